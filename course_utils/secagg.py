"""Secure aggregation (Bonawitz et al., CCS 2017), simulated in one process with real cryptography.

The server learns the sum of the clients' vectors and nothing else: each client adds masks
that look like uniform noise modulo ``2**bits``, and the masks cancel in the sum. The steps
are separate functions so that a notebook can run them one at a time:

1. ``encode``: floats -> integers modulo ``2**bits`` (fixed point).
2. ``make_client``: each client's X25519 key pair and self-mask seed ``b_u``; the server relays
   the public keys to everyone.
3. ``make_shares`` / ``hand_out_shares``: each client splits its private key and ``b_u`` into
   Shamir shares, one for every client; each client becomes a ``ShareHolder``.
4. ``mask_input``: ``y_u = x_u + PRG(b_u) + sum_{v>u} PRG(s_uv) - sum_{v<u} PRG(s_uv)``; clients
   that drop out here never upload their ``y_u``.
5. ``reveal_shares``: the server names the survivors and the dropped; each surviving client
   gives it its shares of ``b_u`` for every surviving ``u`` and of the private key of every
   dropped ``u``, after ``check_reveal_request`` (below).
6. ``unmask``: the server rebuilds those secrets, removes the masks that do not cancel, and
   holds the sum; ``decode`` turns it back into floats.

``secure_sum`` runs all the steps and ``run_protocol`` returns the server's view of them;
``secure_weighted_average`` is FedAvg through secure aggregation.

Which server it protects against. An honest-but-curious server, which follows the protocol
but reads everything it receives, learns only the sum of at least ``threshold`` inputs
(Bonawitz et al., Section 6.1). Against a server that lies about who dropped out, each client
refuses a request that names fewer than ``threshold`` survivors, that does not name the client
itself as a survivor, or that contradicts what it revealed earlier in the round (it never
reveals both its share of ``b_u`` and its share of ``u``'s private key); with ``threshold >
num_clients / 2`` such a server cannot unmask any single client's input within one round
(``check_threshold`` gives the counting argument). That is less than the paper's
active-adversary protocol (Section 6.2 and the consistency round of its Figure 4, where every
survivor signs the same survivor list): by telling different clients different survivor lists,
a lying server here can still learn the sum of fewer than ``threshold`` clients (two of five
with threshold 3, say). Not protected at all: a server that forges clients (Sybils: without a
public-key infrastructure it can play every client but one, and their "sum" is that one's
input); a server colluding with ``threshold - 1`` clients, which could pool their shares with
those it collects; clients that send a wrong input (nothing checks the sum, so one malicious
client can corrupt it undetected); the sum itself, which DP must protect. Flower implements
SecAgg+ (Bell et al., CCS 2020), which shares secrets with ``O(log n)`` neighbours instead of
all ``n - 1`` clients; its client, like this one, refuses to unmask when fewer than
``threshold`` survivors are listed.

From ``cryptography``: X25519 key agreement, HKDF-SHA256 and AES-256-CTR (the PRG). Written out
here: Shamir secret sharing (polynomials modulo a prime) and the fixed-point encoding.
Simplifications against the paper, harmless in one process: shares go to their holders
directly (in the paper they travel through the server, encrypted with keys from a second key
agreement); there are no signatures; every client takes part until the shares are handed out
(dropouts happen between that and the upload of ``y_u``, never earlier or during step 5); keys
are fresh in every run (a real system also binds masks to the round).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from course_utils.aggregate import Parameters, check_results
from course_utils.strategy import FedAvg, FitRes

PRIME = 2**521 - 1  # a Mersenne prime: Shamir's field, larger than any 32-byte secret (< 2**256)
SECRET_BYTES = 32  # X25519 private keys, HKDF outputs and self-mask seeds are all 32 bytes


class SecAggError(RuntimeError):
    """The protocol cannot finish: too few clients survived, or a request would break privacy."""


class Share(NamedTuple):
    """One Shamir share: the point ``(x, f(x) mod PRIME)`` of the secret polynomial ``f``."""

    x: int  # the holder's index + 1 (never 0: f(0) is the secret)
    y: int


@dataclass(frozen=True)
class ClientSecrets:
    """What client ``index`` keeps to itself: its X25519 private key and its self-mask seed ``b_u``."""

    index: int
    private_key: X25519PrivateKey
    self_mask_seed: bytes  # b_u, 32 bytes

    @property
    def public_key(self) -> bytes:
        """The 32-byte X25519 public key, which the server relays to every client."""
        return self.private_key.public_key().public_bytes_raw()


HeldShares = dict[int, tuple[Share, Share]]  # client u -> (share of u's private key, share of b_u)
Revealed = tuple[dict[int, Share], dict[int, Share]]  # (shares of b_u by u, shares of private keys by u)


@dataclass
class ShareHolder:
    """Client ``index`` in step 5: the shares it holds of every client's secrets, and what it revealed this round.

    ``held[u]`` is the pair (share of ``u``'s private key, share of ``b_u``) that client ``u``
    made for it. ``seeds_revealed`` and ``keys_revealed`` remember, for the whole round, the
    clients ``u`` whose share of ``b_u``, or of the private key, it has already given out.
    """

    index: int
    threshold: int
    held: HeldShares
    seeds_revealed: set[int] = field(default_factory=set)
    keys_revealed: set[int] = field(default_factory=set)


@dataclass
class ServerView:
    """Everything the server receives in one run, and the sum it computes from it."""

    public_keys: list[bytes]  # step 2: each client's X25519 public key
    masked: dict[int, np.ndarray]  # step 4: y_u of each surviving client, uint64 in [0, 2**bits)
    revealed: dict[int, Revealed]  # step 5: by surviving holder, what it revealed
    total: np.ndarray  # step 6: the sum of the survivors' encoded inputs mod 2**bits, uint64


# ----------------------------------------------------------------------------- randomness


def random_bytes(num_bytes: int, rng: np.random.Generator | None = None) -> bytes:
    """``num_bytes`` random bytes: from the operating system if ``rng`` is None, else from ``rng``.

    Real deployments must use the operating system (``os.urandom``). A seeded ``rng`` makes
    the course's notebooks reproducible, at the price of secrets anyone who knows the seed
    can recompute: never use it for real.
    """
    if not _is_int(num_bytes) or num_bytes < 0:
        raise ValueError(f"num_bytes must be an integer >= 0, got {num_bytes!r}")
    return os.urandom(num_bytes) if rng is None else rng.bytes(num_bytes)


# ----------------------------------------------------------------------------- checks


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_fixed_point(bits: int, fraction_bits: int) -> None:
    """Raise ``ValueError`` unless ``2 <= bits <= 64`` and ``0 <= fraction_bits < bits``."""
    if not _is_int(bits) or not 2 <= bits <= 64:
        raise ValueError(f"bits must be an integer in [2, 64] (values are uint64 modulo 2**bits), got {bits!r}")
    if not _is_int(fraction_bits) or not 0 <= fraction_bits < bits:
        raise ValueError(f"fraction_bits must be an integer in [0, bits - 1] = [0, {bits - 1}], got {fraction_bits!r}")


def check_threshold(threshold: int, num_clients: int) -> None:
    """Raise ``ValueError`` unless ``num_clients >= 2`` and ``num_clients / 2 < threshold <= num_clients``.

    Why more than half: to unmask one client's ``x_u`` a server that lies about who dropped
    needs ``b_u``, from ``threshold`` clients told that ``u`` survived, and ``u``'s pairwise
    masks. These take either ``u``'s private key, from ``threshold`` clients told that ``u``
    dropped, a group disjoint from the first since each client reveals only one of the two
    shares (``check_reveal_request``), which needs ``2 * threshold <= n`` clients; or the
    private keys of all ``n - 1`` others, ``(n - 1) * threshold`` key shares, while each client,
    naming at least ``threshold`` survivors, gives out at most ``n - threshold``, which needs
    ``(n - 1) * threshold <= n * (n - threshold)``. Both fail when ``threshold > n / 2``
    (``n = num_clients``). (Clients colluding with
    the server would push the safe limit higher.) It also means at least two clients always
    survive, so an honest "sum" is never one client's input.
    """
    if not _is_int(num_clients) or num_clients < 2:
        raise ValueError(f"secure aggregation needs at least 2 clients, got {num_clients!r}")
    low = num_clients // 2 + 1
    if not _is_int(threshold) or not low <= threshold <= num_clients:
        raise ValueError(
            f"threshold must be an integer in [{low}, {num_clients}] for {num_clients} clients "
            f"(more than half of them, at most all), got {threshold!r}"
        )


def check_dropped(dropped: set[int] | frozenset[int], num_clients: int) -> None:
    """Raise ``ValueError`` unless ``dropped`` holds client indices in ``[0, num_clients)``."""
    outside = [u for u in dropped if not _is_int(u) or not 0 <= u < num_clients]
    if outside:
        raise ValueError(f"dropped must hold client indices in [0, {num_clients - 1}], got {sorted(outside, key=str)}")


def check_vectors(vectors: list[np.ndarray]) -> None:
    """Raise ``ValueError`` unless there are at least 2 vectors, all of one shape (values: ``check_encodable``)."""
    if len(vectors) < 2:
        raise ValueError(f"vectors must hold one array per client, at least 2, got {len(vectors)}")
    shape = np.shape(vectors[0])
    for i, vector in enumerate(vectors):
        if np.shape(vector) != shape:
            raise ValueError(f"vectors[{i}] must have shape {shape} like vectors[0], got {np.shape(vector)}")


# ----------------------------------------------------------------------------- step 1: fixed point


def max_bound(num_clients: int, bits: int = 32, fraction_bits: int = 16) -> float:
    """The largest ``bound`` such that ``num_clients`` values in ``[-bound, bound]`` add up without overflow.

    A value ``v`` becomes the integer ``round(v * 2**fraction_bits)``, and a sum of
    ``num_clients`` of them must stay within ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]``.
    """
    check_fixed_point(bits, fraction_bits)
    if not _is_int(num_clients) or num_clients < 1:
        raise ValueError(f"num_clients must be a positive integer, got {num_clients!r}")
    limit = (2 ** (bits - 1) - 1) // num_clients  # the largest integer one client may send
    bound = limit / 2**fraction_bits
    # For 64 bits, limit / 2**fraction_bits may round up in float64: step back one float.
    return bound if math.ceil(bound * 2**fraction_bits) <= limit else math.nextafter(bound, 0.0)


def check_bound(bound: float, num_clients: int, bits: int = 32, fraction_bits: int = 16) -> None:
    """Raise ``ValueError`` unless ``0 < bound <= max_bound(num_clients, bits, fraction_bits)``."""
    largest = max_bound(num_clients, bits, fraction_bits)
    if not 0 < bound <= largest:
        raise ValueError(
            f"bound must be in (0, {largest:g}] for {num_clients} clients with bits={bits}, "
            f"fraction_bits={fraction_bits} (a larger sum would wrap around 2**bits), got {bound!r}"
        )


def check_encodable(
    vectors: list[np.ndarray], bound: float, bits: int, fraction_bits: int, names: list[str] | None = None
) -> None:
    """Raise ``ValueError`` unless the ``vectors`` of ``len(vectors)`` clients can be encoded and summed exactly.

    That is: ``bound`` passes ``check_bound`` for that many clients, and every value of every
    vector is finite and within ``[-bound, bound]``. Errors name vector ``i`` as ``names[i]``
    (default ``vectors[i]``). The one range check of the module: ``encode``, ``secure_sum`` and
    ``secure_weighted_average`` each call it once.
    """
    check_bound(bound, len(vectors), bits, fraction_bits)
    for i, vector in enumerate(vectors):
        name = f"vectors[{i}]" if names is None else names[i]
        x = np.asarray(vector, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} contains NaN or infinite values")
        if x.size and np.max(np.abs(x)) > bound:
            raise ValueError(
                f"{name} has a value of magnitude {np.max(np.abs(x)):g}, outside [-bound, bound] with bound={bound:g}; "
                "clip it, or pass a larger bound (with more bits or fewer fraction_bits if needed)"
            )


def to_fixed_point(x: np.ndarray, bits: int, fraction_bits: int) -> np.ndarray:
    """``round(x * 2**fraction_bits) mod 2**bits`` as uint64, same shape, for ``x`` that passed ``check_encodable``."""
    integers = np.rint(np.asarray(x, dtype=np.float64) * 2**fraction_bits).astype(np.int64)
    return integers.astype(np.uint64) & np.uint64(2**bits - 1)  # int64 -> uint64 wraps mod 2**64


def encode(x: np.ndarray, bits: int = 32, fraction_bits: int = 16, bound: float | None = None) -> np.ndarray:
    """Fixed point: floats ``x`` -> uint64 integers ``round(x * 2**fraction_bits) mod 2**bits``, same shape.

    Negative values wrap around (two's complement). ``bound`` (default: what one client may
    send, ``max_bound(1, ...)``) is the largest magnitude accepted; precision is
    ``2**-(fraction_bits + 1)`` per value.
    """
    bound = max_bound(1, bits, fraction_bits) if bound is None else bound
    check_encodable([x], bound, bits, fraction_bits, names=["x"])
    return to_fixed_point(x, bits, fraction_bits)


def decode(z: np.ndarray, bits: int = 32, fraction_bits: int = 16) -> np.ndarray:
    """The inverse of ``encode``: integers in ``[0, 2**bits)`` -> float64, same shape.

    Integers from ``2**(bits-1)`` up stand for negative numbers (two's complement).
    """
    check_fixed_point(bits, fraction_bits)
    shift = np.uint64(64 - bits)
    # Move the sign bit of a bits-wide number to bit 63, read it as int64, shift back keeping the sign.
    signed = (np.asarray(z, dtype=np.uint64) << shift).view(np.int64) >> shift.astype(np.int64)
    return signed.astype(np.float64) / 2**fraction_bits


def add_mod(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """``(a + b) mod 2**bits`` for uint64 arrays (uint64 wraps mod 2**64, a multiple of 2**bits)."""
    return (np.asarray(a, dtype=np.uint64) + np.asarray(b, dtype=np.uint64)) & np.uint64(2**bits - 1)


def sub_mod(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """``(a - b) mod 2**bits`` for uint64 arrays."""
    return (np.asarray(a, dtype=np.uint64) - np.asarray(b, dtype=np.uint64)) & np.uint64(2**bits - 1)


# ----------------------------------------------------------------------------- Shamir secret sharing


def _random_field_element(rng: np.random.Generator | None) -> int:
    # 80 random bytes (640 bits) reduced mod a 521-bit prime: off uniform by less than 2**-119.
    return int.from_bytes(random_bytes(80, rng), "big") % PRIME


def _evaluate(coefficients: list[int], x: int) -> int:
    """``f(x) mod PRIME`` for ``f = coefficients[0] + coefficients[1] x + ...`` (Horner's rule)."""
    y = 0
    for c in reversed(coefficients):
        y = (y * x + c) % PRIME
    return y


def shamir_split(secret: int, threshold: int, num_shares: int, rng: np.random.Generator | None = None) -> list[Share]:
    """Split ``secret`` (``0 <= secret < PRIME``) into ``num_shares`` shares, any ``threshold`` of which rebuild it.

    A random polynomial ``f`` of degree ``threshold - 1`` with ``f(0) = secret``; share ``i``
    is ``(i + 1, f(i + 1))``. Fewer than ``threshold`` shares tell nothing about the secret:
    for every candidate value there is exactly one such polynomial through them.
    """
    if not _is_int(num_shares) or num_shares < 1:
        raise ValueError(f"num_shares must be a positive integer, got {num_shares!r}")
    if not _is_int(threshold) or not 1 <= threshold <= num_shares:
        raise ValueError(f"threshold must be an integer in [1, num_shares] = [1, {num_shares}], got {threshold!r}")
    if not _is_int(secret) or not 0 <= secret < PRIME:
        raise ValueError("secret must be an integer in [0, PRIME) with PRIME = 2**521 - 1")
    coefficients = [int(secret)] + [_random_field_element(rng) for _ in range(threshold - 1)]
    return [Share(x, _evaluate(coefficients, x)) for x in range(1, num_shares + 1)]


def shamir_combine(shares: list[Share]) -> int:
    """The polynomial's value at 0, by Lagrange interpolation through ``shares``.

    That is the secret if the shares are correct and at least ``threshold`` of them; with
    fewer it is an unrelated number, and nothing can tell (the maths has no way to know).
    """
    xs = [share.x for share in shares]
    if len(shares) == 0 or len(set(xs)) != len(xs):
        raise ValueError(f"shares must be non-empty with distinct x, got x = {xs}")
    secret = 0
    for i, share in enumerate(shares):
        # The Lagrange basis polynomial L_i at 0: prod over j != i of x_j / (x_j - x_i).
        numerator, denominator = 1, 1
        for j, other in enumerate(shares):
            if j != i:
                numerator = numerator * other.x % PRIME
                denominator = denominator * (other.x - share.x) % PRIME
        secret = (secret + share.y * numerator * pow(denominator, -1, PRIME)) % PRIME
    return secret


def share_bytes(secret: bytes, threshold: int, num_shares: int, rng: np.random.Generator | None = None) -> list[Share]:
    """Shamir shares of a byte string of at most 64 bytes, read as one big-endian integer."""
    if len(secret) > 64:
        raise ValueError(f"secret must be at most 64 bytes (to fit below PRIME), got {len(secret)}")
    return shamir_split(int.from_bytes(secret, "big"), threshold, num_shares, rng)


def combine_bytes(shares: list[Share], length: int = SECRET_BYTES) -> bytes:
    """The ``length``-byte secret rebuilt from ``shares``; ``SecAggError`` if it cannot be one."""
    value = shamir_combine(shares)
    if value >= 256**length:
        raise SecAggError(f"the {len(shares)} shares do not rebuild a {length}-byte secret: too few or wrong shares")
    return value.to_bytes(length, "big")


# ----------------------------------------------------------------------------- steps 2-3: keys and shares


def make_client(index: int, rng: np.random.Generator | None = None) -> ClientSecrets:
    """Step 2, on client ``index``: a fresh X25519 key pair and a 32-byte self-mask seed ``b_u``.

    Any 32 random bytes are an X25519 private key (the library clamps them), so a seeded
    ``rng`` gives reproducible keys; with ``rng=None`` they come from the operating system.
    """
    private_key = X25519PrivateKey.from_private_bytes(random_bytes(SECRET_BYTES, rng))
    return ClientSecrets(index, private_key, random_bytes(SECRET_BYTES, rng))


def make_shares(
    client: ClientSecrets, num_clients: int, threshold: int, rng: np.random.Generator | None = None
) -> list[tuple[Share, Share]]:
    """Step 3, on client ``u``: Shamir shares of its private key and of ``b_u``; element ``v`` is for client ``v``.

    With any ``threshold`` of the first kind the server can recompute ``u``'s pairwise masks
    (if ``u`` drops out); with ``threshold`` of the second, ``u``'s self-mask.
    """
    key_shares = share_bytes(client.private_key.private_bytes_raw(), threshold, num_clients, rng)
    seed_shares = share_bytes(client.self_mask_seed, threshold, num_clients, rng)
    return list(zip(key_shares, seed_shares))


def hand_out_shares(shares: list[list[tuple[Share, Share]]], threshold: int) -> list[ShareHolder]:
    """Every client as a ``ShareHolder``: ``holders[v].held[u]`` is the pair client ``u`` made for client ``v``.

    ``shares[u]`` is ``make_shares`` of client ``u`` with this ``threshold``, which each holder
    keeps to judge the server's requests. (In the paper the shares travel through the server,
    encrypted for their holder; here they are simply handed over.)
    """
    check_threshold(threshold, len(shares))
    return [
        ShareHolder(v, threshold, {u: shares_of_u[v] for u, shares_of_u in enumerate(shares)})
        for v in range(len(shares))
    ]


# ----------------------------------------------------------------------------- step 4: masking


def pairwise_seed(private_key: X25519PrivateKey, peer_public_key: bytes) -> bytes:
    """``s_uv``: 32 bytes that clients ``u`` and ``v`` both compute and nobody else can.

    X25519 (ECDH) gives both ends the same shared secret; HKDF-SHA256 turns it, a curve
    coordinate rather than uniform bytes, into a uniform 32-byte key.
    """
    shared_secret = private_key.exchange(X25519PublicKey.from_public_bytes(peer_public_key))
    hkdf = HKDF(algorithm=hashes.SHA256(), length=SECRET_BYTES, salt=None, info=b"course_utils.secagg pairwise mask")
    return hkdf.derive(shared_secret)


def prg(seed: bytes, length: int, bits: int) -> np.ndarray:
    """``length`` pseudo-random integers, uniform in ``[0, 2**bits)``, fixed by the 32-byte ``seed``: uint64.

    The PRG is AES-256 in counter mode keyed by ``seed`` (the keystream, read as little-endian
    64-bit integers, keeping the low ``bits``). Why not numpy's PCG64 or Philox: a mask hides
    an input only if nobody without the seed can predict it, which takes a cryptographic PRG,
    and PCG64's state can be recovered from its outputs. AES-CTR is also fast (hardware AES).
    The zero nonce is safe because each key makes a single stream (both ends of a pair make
    the same one, on purpose).
    """
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor()
    keystream = encryptor.update(bytes(8 * length)) + encryptor.finalize()
    return np.frombuffer(keystream, dtype="<u8").astype(np.uint64) & np.uint64(2**bits - 1)


def pairwise_mask(
    index: int, private_key: X25519PrivateKey, public_keys: list[bytes], peers: list[int], length: int, bits: int
) -> np.ndarray:
    """``sum_{v in peers, v > u} PRG(s_uv) - sum_{v in peers, v < u} PRG(s_uv) mod 2**bits`` for client ``u = index``.

    Each pair is added by its smaller index and subtracted by its larger, so over all
    clients the pairwise masks sum to 0. Returns uint64, shape ``(length,)``.
    """
    mask = np.zeros(length, dtype=np.uint64)
    for v in peers:
        if v == index:
            continue
        stream = prg(pairwise_seed(private_key, public_keys[v]), length, bits)
        mask = add_mod(mask, stream, bits) if v > index else sub_mod(mask, stream, bits)
    return mask


def mask_input(encoded: np.ndarray, client: ClientSecrets, public_keys: list[bytes], bits: int) -> np.ndarray:
    """Step 4, on client ``u``: ``y_u = x_u + PRG(b_u) + pairwise_mask(u, all clients) mod 2**bits``.

    ``encoded`` is ``x_u``, uint64 of shape ``(length,)``. The pairwise masks hide ``x_u`` and
    cancel in the sum. The self-mask ``PRG(b_u)`` protects against a server that receives
    ``y_u`` yet claims ``u`` dropped: the others would then reveal ``u``'s private key and the
    server could strip the pairwise masks, but ``y_u`` would still carry ``PRG(b_u)``, and no
    honest client reveals shares of both for the same ``u``.
    """
    length = len(encoded)
    masked = add_mod(encoded, prg(client.self_mask_seed, length, bits), bits)
    others = range(len(public_keys))
    return add_mod(masked, pairwise_mask(client.index, client.private_key, public_keys, others, length, bits), bits)


# ----------------------------------------------------------------------------- steps 5-6: unmasking


def check_survivors(num_survivors: int, threshold: int) -> None:
    """Raise ``SecAggError`` if fewer than ``threshold`` clients survived: the server cannot finish the round."""
    if num_survivors < threshold:
        raise SecAggError(
            f"only {num_survivors} clients survived, fewer than the threshold of {threshold}: "
            "the dropped clients' masks cannot be removed, so the sum cannot be recovered"
        )


def check_reveal_request(holder: ShareHolder, survivors: list[int], dropped: list[int]) -> None:
    """Raise ``SecAggError`` unless an honest ``holder`` may answer the server's request ``(survivors, dropped)``.

    The request must name every client once, as surviving or dropped; name the holder itself
    a survivor (it is answering); name at least ``threshold`` survivors (else the server could
    unmask a sum of fewer clients, or one client's input); and agree with what the holder
    revealed earlier in the round: a client whose share of ``b_u`` went out cannot now be
    dropped, nor one whose key share went out survive. Shares of both would unmask ``x_u``.
    """
    refuse = f"client {holder.index} refuses to reveal its shares:"
    everyone = list(survivors) + list(dropped)
    named_twice = sorted({u for u in everyone if everyone.count(u) > 1}, key=str)
    if named_twice:
        raise SecAggError(f"{refuse} clients {named_twice} are named more than once (both surviving and dropped?)")
    if set(everyone) != set(holder.held):
        raise SecAggError(f"{refuse} the request must name each of the clients {sorted(holder.held)} once, "
                          f"as surviving or dropped, got {sorted(everyone, key=str)}")
    if holder.index not in survivors:
        raise SecAggError(f"{refuse} it is answering, so it has not dropped out, yet the request names it dropped")
    if len(survivors) < holder.threshold:
        raise SecAggError(f"{refuse} the request names {len(survivors)} survivors, fewer than the threshold of "
                          f"{holder.threshold}")
    for u in survivors:
        if u in holder.keys_revealed:
            raise SecAggError(f"{refuse} it already revealed its share of client {u}'s private key (client {u} was "
                              f"named dropped), so it will not reveal its share of b_{u} too")
    for u in dropped:
        if u in holder.seeds_revealed:
            raise SecAggError(f"{refuse} it already revealed its share of b_{u} (client {u} was named a survivor), "
                              f"so it will not reveal its share of client {u}'s private key too")


def reveal_shares(holder: ShareHolder, survivors: list[int], dropped: list[int]) -> Revealed:
    """Step 5, on a surviving client: its shares of ``b_u`` of the survivors and of the dropped clients' private keys.

    Returns ``({u: share of b_u for u in survivors}, {u: share of u's private key for u in
    dropped})`` and records them in ``holder``; raises ``SecAggError`` instead if
    ``check_reveal_request`` refuses the request.
    """
    check_reveal_request(holder, survivors, dropped)
    holder.seeds_revealed.update(survivors)
    holder.keys_revealed.update(dropped)
    return {u: holder.held[u][1] for u in survivors}, {u: holder.held[u][0] for u in dropped}


def unmask(
    masked: dict[int, np.ndarray], revealed: dict[int, Revealed], public_keys: list[bytes], threshold: int, bits: int
) -> np.ndarray:
    """Step 6, on the server: the sum of the survivors' encoded inputs mod ``2**bits`` (uint64).

    The sum of the ``y_u`` still holds each survivor's ``PRG(b_u)`` and the pairwise masks
    between survivors and dropped clients (those between two survivors cancel). The server
    rebuilds each survivor's ``b_u`` and subtracts ``PRG(b_u)``; it rebuilds each dropped
    client's private key and adds that client's pairwise mask towards the survivors, the
    exact opposite of what is left. It needs ``threshold`` shares, so ``threshold`` survivors.
    """
    check_survivors(len(revealed), threshold)
    survivors = sorted(masked)
    dropped = [u for u in range(len(public_keys)) if u not in masked]
    helpers = list(revealed.values())[:threshold]  # any threshold of them suffice
    length = len(masked[survivors[0]])
    total = np.sum(np.stack([masked[u] for u in survivors]), axis=0, dtype=np.uint64) & np.uint64(2**bits - 1)
    for u in survivors:
        b_u = combine_bytes([seed_shares[u] for seed_shares, _ in helpers])
        total = sub_mod(total, prg(b_u, length, bits), bits)
    for u in dropped:
        key = X25519PrivateKey.from_private_bytes(combine_bytes([key_shares[u] for _, key_shares in helpers]))
        total = add_mod(total, pairwise_mask(u, key, public_keys, survivors, length, bits), bits)
    return total


# ----------------------------------------------------------------------------- the whole protocol


def run_protocol(
    encoded: list[np.ndarray],
    threshold: int,
    dropped: set[int] | frozenset[int] = frozenset(),
    bits: int = 32,
    seed: int | None = None,
) -> ServerView:
    """Steps 2-6 for clients ``0 .. n-1`` holding ``encoded`` (uint64 vectors in ``[0, 2**bits)``, one shape).

    Clients in ``dropped`` take part until their shares are handed out, then vanish: their
    ``y_u`` never arrives and they reveal nothing. ``seed`` makes keys, seeds and shares
    reproducible (for teaching only); ``None`` draws them from the operating system.
    Raises ``SecAggError`` if fewer than ``threshold`` clients survive.
    """
    num_clients = len(encoded)
    check_threshold(threshold, num_clients)
    check_dropped(dropped, num_clients)
    shape = np.shape(encoded[0])
    for i, x in enumerate(encoded):
        x = np.asarray(x)
        if x.ndim != 1 or x.shape != shape or x.dtype != np.uint64 or (x.size and x.max() > 2**bits - 1):
            raise ValueError(f"encoded[{i}] must be a uint64 vector of shape {shape} with values below 2**bits")
    rng = None if seed is None else np.random.default_rng(seed)
    clients = [make_client(u, rng) for u in range(num_clients)]
    public_keys = [client.public_key for client in clients]
    holders = hand_out_shares([make_shares(client, num_clients, threshold, rng) for client in clients], threshold)
    survivors = [u for u in range(num_clients) if u not in dropped]
    check_survivors(len(survivors), threshold)  # an honest server stops here; the clients would refuse anyway
    masked = {u: mask_input(encoded[u], clients[u], public_keys, bits) for u in survivors}
    revealed = {v: reveal_shares(holders[v], survivors, sorted(dropped)) for v in survivors}
    return ServerView(public_keys, masked, revealed, unmask(masked, revealed, public_keys, threshold, bits))


def secure_sum(
    vectors: list[np.ndarray],
    threshold: int,
    dropped: set[int] | frozenset[int] = frozenset(),
    bits: int = 32,
    fraction_bits: int = 16,
    bound: float | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """The sum of the surviving clients' ``vectors`` (one array per client, one shape), by secure aggregation.

    Exact up to fixed point: each value is rounded to a multiple of ``2**-fraction_bits``, so
    the result is within ``num_clients * 2**-(fraction_bits + 1)`` of the float sum. ``bound``
    is the largest magnitude a client may send (default: ``max_bound(num_clients, ...)``, the
    most the ``bits`` allow); clip values first. ``threshold``: see ``check_threshold``;
    ``dropped``: clients whose masked vector never arrives; ``seed``: see ``run_protocol``.
    Returns float64 of the vectors' shape.
    """
    check_vectors(vectors)
    bound = max_bound(len(vectors), bits, fraction_bits) if bound is None else bound
    check_encodable(vectors, bound, bits, fraction_bits)
    return _sum_encodable(vectors, threshold, dropped, bits, fraction_bits, seed)


def _sum_encodable(
    vectors: list[np.ndarray], threshold: int, dropped: set[int] | frozenset[int], bits: int, fraction_bits: int,
    seed: int | None,
) -> np.ndarray:
    """``secure_sum`` of ``vectors`` that passed ``check_encodable``: encode, run the protocol, decode."""
    encoded = [to_fixed_point(np.ravel(vector), bits, fraction_bits) for vector in vectors]
    view = run_protocol(encoded, threshold, dropped, bits, seed)
    return decode(view.total, bits, fraction_bits).reshape(np.shape(vectors[0]))


def secure_weighted_average(
    results: list[tuple[Parameters, int]],
    threshold: int,
    dropped: set[int] | frozenset[int] = frozenset(),
    bits: int = 64,
    fraction_bits: int = 32,
    bound: float | None = None,
    seed: int | None = None,
) -> Parameters:
    """FedAvg through secure aggregation: the server learns only ``sum n_k w_k`` and ``sum n_k`` over survivors.

    Client ``k`` sends one vector, its parameters flattened and multiplied by its
    ``num_examples`` ``n_k``, followed by ``n_k``; the server divides the two sums. The result
    matches ``fedavg`` of the surviving clients' results to fixed-point precision, with the
    shapes and dtypes of the parameters. 64 bits with 32 fraction bits by default, since
    ``n_k w_k`` easily exceeds what 32 bits hold (``bound`` and the rest as in ``secure_sum``).
    """
    check_results(results)
    if len(results) < 2:
        raise ValueError(f"results must hold at least 2 clients' (parameters, num_examples), got {len(results)}")
    vectors = [
        np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) * int(n) for p in parameters] + [[float(n)]])
        for parameters, n in results
    ]
    bound = max_bound(len(results), bits, fraction_bits) if bound is None else bound
    names = [f"results[{i}]: num_examples * parameters" for i in range(len(results))]
    check_encodable(vectors, bound, bits, fraction_bits, names)
    total = _sum_encodable(vectors, threshold, dropped, bits, fraction_bits, seed)
    return unflatten(total[:-1] / round(total[-1]), like=results[0][0])


def weighted_average_error(num_examples: list[int], fraction_bits: int = 32) -> float:
    """The most ``secure_weighted_average`` can differ, per value, from FedAvg computed exactly (before any cast).

    Each client's ``n_k w_k`` is rounded to a multiple of ``2**-fraction_bits``, by at most
    half of it; the ``n_k`` are whole and exact. So the weighted sum is off by at most
    ``K * 2**-(fraction_bits + 1)`` for ``K`` clients, and the average by that over ``sum n_k``.
    Casting the result to float32 parameters adds at most half a float32 step on top.
    """
    if len(num_examples) == 0 or any(not _is_int(n) or n < 1 for n in num_examples):
        raise ValueError(f"num_examples must be a non-empty list of positive integers, got {num_examples!r}")
    if not _is_int(fraction_bits) or not 0 <= fraction_bits < 64:
        raise ValueError(f"fraction_bits must be an integer in [0, 63], got {fraction_bits!r}")
    return len(num_examples) * 2.0 ** -(fraction_bits + 1) / sum(int(n) for n in num_examples)


def unflatten(flat: np.ndarray, like: Parameters) -> Parameters:
    """Cut the vector ``flat`` into arrays with the shapes and dtypes of ``like`` (integer ones rounded)."""
    parameters, start = [], 0
    for reference in like:
        reference = np.asarray(reference)
        values = flat[start : start + reference.size].reshape(reference.shape)
        start += reference.size
        rounded = np.rint(values) if np.issubdtype(reference.dtype, np.integer) else values
        parameters.append(rounded.astype(reference.dtype))
    return parameters


@dataclass
class SecAggFedAvg(FedAvg):
    """FedAvg through secure aggregation (``course_utils.secagg``): the server only learns sums.

    Each round the clients that returned a result run the protocol of Bonawitz et al. with the
    smallest safe Shamir threshold (``len(results) // 2 + 1``), uploading ``n_k * parameters``,
    ``n_k * metrics`` and ``n_k`` as masked integers modulo ``2**bits`` with ``fraction_bits``
    fraction bits; the server divides the sums. The result equals FedAvg's to fixed-point
    precision. Only metrics that every client reports are aggregated (securely too). Records
    ``upload_bytes``, the size of the masked vectors uploaded in the round (``ceil(bits / 8)``
    bytes per value). Keys come from the operating system; the sum does not depend on them.
    A round with fewer than ``min_fit_successes`` results (at least 2: the sum of one client is
    its update) is skipped.
    """

    bits: int = 64
    fraction_bits: int = 32
    min_fit_successes: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fixed_point(self.bits, self.fraction_bits)
        for name in ("min_fit_clients", "min_fit_successes"):
            if getattr(self, name) < 2:
                raise ValueError(
                    f"{name} must be at least 2 for secure aggregation (the sum of one client is its update), "
                    f"got {getattr(self, name)}"
                )

    def aggregate_fit(self, server_round, results, failures, current):
        results = [FitRes(*r) for r in results]
        self.check_round(server_round, "fit", results, failures)
        names = sorted(set.intersection(*(set(r.metrics) for r in results)))
        packed = [([*r.parameters, np.array([r.metrics[name] for name in names], dtype=np.float64)], r.num_examples)
                  for r in results]
        *parameters, metric_values = secure_weighted_average(
            packed, threshold=len(results) // 2 + 1, bits=self.bits, fraction_bits=self.fraction_bits
        )
        values_per_client = sum(np.size(a) for a in packed[0][0]) + 1  # the last value is n_k
        upload_bytes = len(results) * values_per_client * -(-self.bits // 8)
        return parameters, {**dict(zip(names, metric_values.tolist())), "upload_bytes": float(upload_bytes)}
