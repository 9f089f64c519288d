"""Puts a body that is not a Vumi message on <endpoint>.inbound with pika, then prints the
failure record that arrives on <endpoint>.failures.

    python3 pika_malformed.py <endpoint> <body>
"""

import json
import sys

import pika

endpoint, body = sys.argv[1], sys.argv[2].encode()
inbound, failures = f"{endpoint}.inbound", f"{endpoint}.failures"

connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))
channel = connection.channel()
channel.queue_declare(queue=failures, durable=True)
channel.queue_bind(queue=failures, exchange="vumi", routing_key=failures)
channel.basic_publish(
    exchange="vumi",
    routing_key=inbound,
    body=body,
    properties=pika.BasicProperties(delivery_mode=2),
)

for method, _properties, record in channel.consume(failures, inactivity_timeout=15):
    if record is None:
        sys.exit("no failure record on " + failures + " within 15 s")
    channel.basic_ack(method.delivery_tag)
    print(json.dumps(json.loads(record)))
    break
