"""Watch a transport's status reports as a Vumi worker would: bind a private queue to
<transport>.status on the `vumi` exchange, say `ready`, then print each report (one JSON per
line) until one has the wanted status and type, or the time is up.

    python3 pika_status.py <transport_name> <status> <type> <seconds>
"""

import json
import sys
import time

import pika

transport, want_status, want_type, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))
channel = connection.channel()
channel.exchange_declare(exchange="vumi", exchange_type="direct", durable=True)
queue = channel.queue_declare(queue="", exclusive=True).method.queue
channel.queue_bind(queue=queue, exchange="vumi", routing_key=f"{transport}.status")
print("ready", flush=True)

deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    method, _, body = channel.basic_get(queue=queue, auto_ack=True)
    if method is None:
        time.sleep(0.05)
        continue
    report = json.loads(body)
    print(json.dumps(report), flush=True)
    if report.get("status") == want_status and report.get("type") == want_type:
        sys.exit(0)
sys.exit(f"no {want_status}/{want_type} report on {transport}.status within {seconds} s")
