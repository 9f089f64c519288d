"""A Vumi worker's view of ruvuma: publish a Vumi-format user_message with pika (an ordinary AMQP
client) to <transport>.inbound, and print the reply that arrives on <transport>.outbound.

    python3 pika_roundtrip.py <transport_name> <content>
"""

import json
import sys
import uuid
from datetime import datetime, timezone

import pika

transport, content = sys.argv[1], sys.argv[2]
inbound, outbound = f"{transport}.inbound", f"{transport}.outbound"

connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))
channel = connection.channel()
channel.queue_declare(queue=outbound, durable=True)
channel.queue_bind(queue=outbound, exchange="vumi", routing_key=outbound)

message = {
    "message_version": "20110921",
    "message_type": "user_message",
    "message_id": uuid.uuid4().hex,
    "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"),
    "to_addr": "*120#",
    "from_addr": "+27831234567",
    "content": content,
    "in_reply_to": None,
    "session_event": None,
    "transport_name": transport,
    "transport_type": "ussd",
    "transport_metadata": {"session_id": "vumi-1"},
    "helper_metadata": {},
    "routing_metadata": {},
}
channel.basic_publish(
    exchange="vumi",
    routing_key=inbound,
    body=json.dumps(message),
    properties=pika.BasicProperties(delivery_mode=2, content_type="application/json"),
)

for method, _properties, body in channel.consume(outbound, inactivity_timeout=15):
    if body is None:
        sys.exit("no reply on " + outbound + " within 15 s")
    channel.basic_ack(method.delivery_tag)
    reply = json.loads(body)
    print(json.dumps({"sent": message, "reply": reply}))
    break
connection.close()
