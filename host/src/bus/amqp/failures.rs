//! Dead letters on RabbitMQ's `<endpoint>.failures` queues, for a host without a store: read
//! with basic.get and given back (the channel closes with them unacked, so they are requeued),
//! one taken for good to replay it, or the queues purged.

use super::{failed, AmqpBus, BusError};
use lapin::options::{BasicAckOptions, BasicGetOptions, QueuePurgeOptions};
use lapin::Channel;
use serde_json::Value as Json;
use std::time::Duration;

/// A failure record as it sits on a queue: the queue, and the record's JSON.
pub struct Kept {
    pub queue: String,
    pub record: Json,
}

/// How long reading the failure queues may take.
const LIMIT: Duration = Duration::from_secs(5);

impl AmqpBus {
    /// A channel with each of `queues` declared (a failure queue that never had one is empty).
    async fn failure_channel(&self, queues: &[String]) -> Result<Channel, BusError> {
        let channel = self.0.channel().await?;
        for q in queues {
            self.0.declare(&channel, q).await?;
        }
        Ok(channel)
    }

    /// Up to `limit` failure records of `queues`, oldest first; every one stays on its queue.
    pub async fn failures(&self, queues: &[String], limit: usize) -> Result<Vec<Kept>, BusError> {
        let read = async {
            let channel = self.failure_channel(queues).await?;
            let mut out = Vec::new();
            for q in queues {
                while out.len() < limit {
                    let got = channel
                        .basic_get(q.as_str().into(), BasicGetOptions { no_ack: false })
                        .await
                        .map_err(|e| failed(&format!("reading {q}"), e))?;
                    let Some(got) = got else { break };
                    let record = serde_json::from_slice(&got.delivery.data).unwrap_or(Json::Null);
                    out.push(Kept {
                        queue: q.clone(),
                        record,
                    });
                }
            }
            // Closing the channel gives back everything it took.
            let _ = channel.close(200, "failures read".into()).await;
            Ok(out)
        };
        tokio::time::timeout(LIMIT, read)
            .await
            .map_err(|_| failed("reading the failure queues", "no answer within 5 s"))?
    }

    /// Takes the record whose `failure_id` is `id` off its queue for good; the others stay.
    pub async fn take_failure(&self, queues: &[String], id: &str) -> Result<Option<Kept>, BusError> {
        let take = async {
            let channel = self.failure_channel(queues).await?;
            let mut found = None;
            'queues: for q in queues {
                loop {
                    let got = channel
                        .basic_get(q.as_str().into(), BasicGetOptions { no_ack: false })
                        .await
                        .map_err(|e| failed(&format!("reading {q}"), e))?;
                    let Some(got) = got else { break };
                    let record: Json = serde_json::from_slice(&got.delivery.data).unwrap_or(Json::Null);
                    if record["failure_id"] == id {
                        got.delivery
                            .acker
                            .ack(BasicAckOptions::default())
                            .await
                            .map_err(|e| failed(&format!("taking a failure off {q}"), e))?;
                        found = Some(Kept {
                            queue: q.clone(),
                            record,
                        });
                        break 'queues;
                    }
                }
            }
            let _ = channel.close(200, "failure taken".into()).await;
            Ok(found)
        };
        tokio::time::timeout(LIMIT, take)
            .await
            .map_err(|_| failed("reading the failure queues", "no answer within 5 s"))?
    }

    /// Empties `queues`; how many records went.
    pub async fn purge_failures(&self, queues: &[String]) -> Result<u64, BusError> {
        let channel = self.failure_channel(queues).await?;
        let mut n = 0u64;
        for q in queues {
            n += u64::from(
                channel
                    .queue_purge(q.as_str().into(), QueuePurgeOptions::default())
                    .await
                    .map_err(|e| failed(&format!("purging {q}"), e))?,
            );
        }
        let _ = channel.close(200, "failures purged".into()).await;
        Ok(n)
    }
}
