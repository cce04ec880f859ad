//! The messages the relay's tasks send each other, apart from the tasks that send and
//! receive them, so that every arrow in the module graph points one way: connection tasks
//! and the cluster module send [`HubEvent`]s, the hub sends [`ConnCommand`]s, and neither
//! `hub` nor `connection` needs the other (as in mini-redis, where only the server's handler
//! knows both the connection and the database).

mod cluster_event;
pub(crate) mod command_channel;
mod conn_command;
mod hub_event;

pub(crate) use cluster_event::{ClusterEvent, LocalPeer, PresenceSnapshot};
pub(crate) use conn_command::{ConnCommand, Route};
pub(crate) use hub_event::{ConnId, HubEvent};
