"""fl_digits: the course's FedAvg job on the digits as a Flower App.

- ``task``        plain ML, no Flower: data, model and the course's client, all from course_utils
- ``client_app``  the ClientApp: Flower messages in, the course's ``Client.fit`` / ``evaluate``, messages out
- ``server_app``  the ServerApp: Flower's FedAvg strategy runs the rounds, the course evaluates on the server
"""
