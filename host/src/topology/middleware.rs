//! Middleware stacks: what a component consumes passes its middleware in list order (sorted by
//! `consume_priority`); what it publishes passes them in reverse (sorted by `publish_priority`),
//! as Vumi's MiddlewareStack does. Any middleware may change a message or drop it.

use crate::config::MiddlewareSpec;
use abi_stable::std_types::ROption;
use ruvuma_plugin_api::abi::{ComponentBox, Delivery, Direction, EndpointName};
use ruvuma_plugin_api::room::RoomSlot;
use ruvuma_plugin_api::{Flow, Payload};
use std::sync::Arc;

#[derive(Clone)]
pub struct Layer {
    pub name: String,
    pub component: Arc<ComponentBox>,
}

pub struct Stack {
    consume: Vec<Layer>,
    publish: Vec<Layer>,
}

/// What comes out of a stack.
pub enum Passed {
    On(Payload),
    /// Dropped, with the reason (which middleware, and why).
    Dropped(String),
}

/// Consume and publish orders for middleware given in list order.
pub fn orders(specs: &[MiddlewareSpec]) -> (Vec<usize>, Vec<usize>) {
    let mut consume: Vec<usize> = (0..specs.len()).collect();
    consume.sort_by_key(|&i| specs[i].consume_priority);
    let mut publish: Vec<usize> = (0..specs.len()).rev().collect();
    publish.sort_by_key(|&i| specs[i].publish_priority);
    (consume, publish)
}

impl Stack {
    /// A stack of `layers` given in list order, with their specs; `None` when there are none.
    pub fn new(specs: &[MiddlewareSpec], layers: Vec<Layer>) -> Option<Arc<Self>> {
        if layers.is_empty() {
            return None;
        }
        let (consume, publish) = orders(specs);
        Some(Arc::new(Self {
            consume: consume.iter().map(|&i| layers[i].clone()).collect(),
            publish: publish.iter().map(|&i| layers[i].clone()).collect(),
        }))
    }

    pub async fn consume(&self, flow: Flow, connector: &EndpointName, payload: Payload) -> Passed {
        run(&self.consume, Direction::Consume, flow, connector, payload).await
    }

    pub async fn publish(&self, flow: Flow, connector: &EndpointName, payload: Payload) -> Passed {
        run(&self.publish, Direction::Publish, flow, connector, payload).await
    }
}

async fn run(
    layers: &[Layer],
    direction: Direction,
    flow: Flow,
    connector: &EndpointName,
    mut payload: Payload,
) -> Passed {
    for layer in layers {
        let delivery = Delivery {
            flow,
            endpoint: connector.clone(),
            payload,
            sender: ROption::RNone,
            direction,
        };
        // No room: a room here would grow the future of every delivery, stack or none.
        match layer.component.consume(delivery, RoomSlot::NONE).await.into_result() {
            Ok(mut out) => match out.pop() {
                Some(r) => payload = r.payload,
                None => return Passed::Dropped(format!("dropped by middleware {:?}", layer.name)),
            },
            Err(e) => return Passed::Dropped(format!("middleware {:?} failed: {e}", layer.name)),
        }
    }
    Passed::On(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, consume: i64, publish: i64) -> MiddlewareSpec {
        MiddlewareSpec {
            name: name.into(),
            plugin: "x".into(),
            config: serde_json::json!({}),
            consume_priority: consume,
            publish_priority: publish,
        }
    }

    /// Vumi's MiddlewareStack test: priorities sort stably, publish starts from the reversed list.
    #[test]
    fn priorities_order_like_vumi() {
        let specs = [
            spec("p2", 3, 3),
            spec("pn", 0, 0),
            spec("p1_1", 2, 2),
            spec("p1_2", 2, 2),
            spec("pasym", 1, 4),
        ];
        let (consume, publish) = orders(&specs);
        let names = |order: Vec<usize>| order.iter().map(|&i| specs[i].name.clone()).collect::<Vec<_>>();
        assert_eq!(names(consume), ["pn", "pasym", "p1_1", "p1_2", "p2"]);
        assert_eq!(names(publish), ["pn", "p1_2", "p1_1", "p2", "pasym"]);
    }

    #[test]
    fn without_priorities_publish_is_the_reverse() {
        let specs = [spec("a", 0, 0), spec("b", 0, 0), spec("c", 0, 0)];
        let (consume, publish) = orders(&specs);
        assert_eq!(consume, [0, 1, 2]);
        assert_eq!(publish, [2, 1, 0]);
    }
}
