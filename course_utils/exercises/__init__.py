"""Self-checking exercises: compare a learner's answer with the reference and say what differs.

``core`` holds the machinery: ``check_function`` runs the learner's function and the
reference on the same random inputs, ``check_value`` compares one answer, and both return a
:class:`Verdict` (true when right, shown in a notebook as its message). The other modules
hold the named checks the notebooks use, one module per topic; all are importable from here.
``set_language("zh")`` chooses the feedback's language (``language()`` reads it; "en" by default).
"""

from course_utils.exercises.aggregation import (
    check_alie_prediction,
    check_coordinate_median,
    check_quantized_bytes,
    check_rounding_prediction,
    check_top_k_vector,
)
from course_utils.exercises.analytics import check_dropout_tolerance, check_federated_mean, check_mask_pair
from course_utils.exercises.attacks import check_clipping_prediction, check_membership_guess, check_recover_input
from course_utils.exercises.core import (
    LANGUAGES,
    Hint,
    Verdict,
    check_function,
    check_value,
    difference,
    language,
    set_language,
)
from course_utils.exercises.evaluation import (
    check_client_updates,
    check_weighted_client_accuracy,
    check_worst_evaluated_client,
)
from course_utils.exercises.failures import (
    DEADLINE_POLICIES,
    check_coverage_prediction,
    check_round_continues,
    check_round_success_probability,
    check_round_times,
)
from course_utils.exercises.flower import (
    FLOWER_FEDAVG_NAMES,
    check_array_record_conversion,
    check_epsilon_growth_prediction,
    check_flower_dp_wrapper,
    check_flower_fedavg_arguments,
)
from course_utils.exercises.heterogeneity import check_fedprox_local_optimum, check_largest_class_share
from course_utils.exercises.hospitals import check_biggest_gain, check_malignant_recall, check_pooled_std
from course_utils.exercises.local_data import check_unseen_fraction, check_update_bytes, check_worst_client
from course_utils.exercises.privacy import (
    check_adaptive_bound_prediction,
    check_clip_update,
    check_laplace_scale,
    check_smaller_epsilon,
)
from course_utils.exercises.rounds import check_apply_differences, check_weighted_average

__all__ = [
    "DEADLINE_POLICIES", "FLOWER_FEDAVG_NAMES", "Hint", "Verdict", "check_apply_differences",
    "check_array_record_conversion", "check_biggest_gain", "check_client_updates", "check_clip_update",
    "check_coordinate_median", "check_dropout_tolerance", "check_federated_mean", "check_flower_fedavg_arguments",
    "check_function", "check_laplace_scale", "check_largest_class_share", "check_malignant_recall", "check_mask_pair",
    "check_fedprox_local_optimum", "check_pooled_std", "check_quantized_bytes", "check_round_continues",
    "check_round_success_probability", "check_round_times", "check_smaller_epsilon",
    "check_top_k_vector", "check_unseen_fraction", "check_update_bytes", "check_value", "check_weighted_average",
    "check_weighted_client_accuracy", "check_worst_client", "check_worst_evaluated_client", "difference",
    "check_clipping_prediction", "check_membership_guess", "check_recover_input", "check_coverage_prediction",
    "check_rounding_prediction", "check_epsilon_growth_prediction", "check_flower_dp_wrapper",
    "check_adaptive_bound_prediction", "check_alie_prediction", "LANGUAGES", "language", "set_language",
]
