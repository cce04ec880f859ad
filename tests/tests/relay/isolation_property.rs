//! Isolation, as a property: randomised interleavings of many seekers and peers (connect,
//! seek, cancel, accept, decline, send, end, block, drop) against the real relay. Every data
//! frame carries a unique tag (sender, sender's chat number, sequence) in its opaque
//! payload, checked where it lands: each message reaches exactly its own partner's chat, in
//! order, exactly once — or its sender is told the chat ended — never another chat.
//!
//! Seeded and bounded: `CONFIDANT_SEED=<n>` replays a failure exactly (the seed is printed),
//! `CONFIDANT_ISOLATION_CASES` (default 4) and `CONFIDANT_ISOLATION_STEPS` (default 300)
//! size the run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use confidant_proto::{
    Availability, ChatEndReason, ChatNumber, ClientFrame, DataFrame, ErrorCode, RelayFrame, Role,
    SeekPreferences,
};
use confidant_tests::abuse_support::{Row, SplitMix, WsClient};
use confidant_tests::{ProgramFixture, Received, SupporterCredential, TestRelay, test_limits};
use tokio::sync::mpsc;

const PROGRAM: &str = "resident-peer-support";
const MAX_SEEKERS: usize = 10;
const PEERS: usize = 3;

/// A stream of messages: (client id, chat number on that client).
type Stream = (usize, u32);

#[derive(Default)]
struct Client {
    peer: bool,
    ws: Option<WsClient>,
    /// We dropped it (killed).
    dropped: bool,
    /// The relay closed it.
    closed: Option<Option<u16>>,
    welcomed: bool,
    challenge: Option<Vec<u8>>,
    verified: bool,
    available: bool,
    seeking: bool,
    offers: Vec<u32>,
    open: BTreeSet<u32>,
    /// Chats this client sent `end` or `block` for (it sends no more data on them).
    ending: BTreeSet<u32>,
    seen: BTreeSet<u32>,
    ended: BTreeMap<u32, ChatEndReason>,
    /// Next sequence number per own chat.
    sent: HashMap<u32, u64>,
    /// Tags received per own chat, in order.
    received: HashMap<u32, Vec<(usize, u32, u64)>>,
}

struct World {
    rng: SplitMix,
    seed: u64,
    relay: TestRelay,
    credentials: Vec<SupporterCredential>,
    clients: Vec<Client>,
    events_tx: mpsc::UnboundedSender<(usize, Received)>,
    events: mpsc::UnboundedReceiver<(usize, Received)>,
    messages: u64,
    errors: BTreeMap<String, usize>,
}

fn tag(sender: usize, chat: u32, seq: u64, padding: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + padding);
    out.extend_from_slice(&(sender as u32).to_be_bytes());
    out.extend_from_slice(&chat.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.resize(16 + padding, 0xA5);
    out
}

fn untag(payload: &[u8]) -> (usize, u32, u64) {
    assert!(payload.len() >= 16, "payload without a tag: {payload:?}");
    let sender = u32::from_be_bytes(payload[0..4].try_into().unwrap()) as usize;
    let chat = u32::from_be_bytes(payload[4..8].try_into().unwrap());
    let seq = u64::from_be_bytes(payload[8..16].try_into().unwrap());
    (sender, chat, seq)
}

impl World {
    fn fail(&self, what: String) -> ! {
        panic!(
            "isolation violated (replay with CONFIDANT_SEED={}): {what}",
            self.seed
        );
    }

    /// Handles one event from the relay.
    fn on_event(&mut self, id: usize, received: Received) {
        let seed = self.seed;
        let client = &mut self.clients[id];
        if client.dropped {
            return;
        }
        match received {
            Received::Frame(frame) => match frame {
                RelayFrame::Welcome { .. } => client.welcomed = true,
                RelayFrame::Challenge { challenge } => client.challenge = Some(challenge.0),
                RelayFrame::Verified { .. } => client.verified = true,
                RelayFrame::AvailabilitySet { .. } => client.available = true,
                RelayFrame::Queued { .. } => {}
                // Feature `resume`, which these clients never ask for.
                RelayFrame::Resumed { .. }
                | RelayFrame::Ack { .. }
                | RelayFrame::PartnerAway { .. }
                | RelayFrame::PartnerBack { .. } => {
                    panic!("seed {seed}: a frame of a feature not agreed: {frame:?}")
                }
                RelayFrame::Cancelled {} | RelayFrame::NoPeer { .. } => client.seeking = false,
                RelayFrame::Offer { offer, .. } => client.offers.push(offer),
                RelayFrame::OfferWithdrawn { offer, .. } => client.offers.retain(|o| *o != offer),
                RelayFrame::Matched { chat, .. } | RelayFrame::ChatStarted { chat, .. } => {
                    if let RelayFrame::ChatStarted { offer, .. } = frame {
                        client.offers.retain(|o| *o != offer);
                    }
                    client.seeking = false;
                    assert!(
                        client.seen.insert(chat.0),
                        "seed {seed}: chat number {} given twice to client {id}",
                        chat.0
                    );
                    client.open.insert(chat.0);
                }
                RelayFrame::ChatEnded { chat, reason } => {
                    assert!(
                        client.seen.contains(&chat.0),
                        "seed {seed}: client {id} told chat {} ended, never had it",
                        chat.0
                    );
                    assert!(
                        client.ended.insert(chat.0, reason).is_none(),
                        "seed {seed}: client {id} told chat {} ended twice",
                        chat.0
                    );
                    client.open.remove(&chat.0);
                }
                RelayFrame::Error { code, .. } => {
                    // The races of an asynchronous client: a frame about a chat or offer
                    // that just went away, a seek crossing a match, an accept past capacity.
                    let benign = matches!(
                        code,
                        ErrorCode::UnknownChat
                            | ErrorCode::UnknownOffer
                            | ErrorCode::AlreadySeeking
                            | ErrorCode::NotAvailable
                    );
                    assert!(benign, "seed {seed}: client {id} got error {code}");
                    *self.errors.entry(code.to_string()).or_default() += 1;
                }
                RelayFrame::Shutdown { .. } => panic!("seed {seed}: unexpected shutdown"),
            },
            Received::Data(bytes) => {
                let frame = DataFrame::decode(&bytes).unwrap();
                let chat = frame.chat.0;
                if !client.seen.contains(&chat) || client.ended.contains_key(&chat) {
                    panic!(
                        "seed {seed}: client {id} got data on chat {chat} it {} (tag {:?})",
                        if client.seen.contains(&chat) {
                            "was told ended"
                        } else {
                            "never had"
                        },
                        untag(frame.noise_message)
                    );
                }
                let tag = untag(frame.noise_message);
                client.received.entry(chat).or_default().push(tag);
            }
            Received::Closed(code) => {
                panic!("seed {seed}: relay closed client {id} ({code:?})");
            }
        }
    }

    /// Handles every event already queued, then lets the relay run a little.
    async fn pump(&mut self, pause: Duration) {
        tokio::time::sleep(pause).await;
        while let Ok((id, received)) = self.events.try_recv() {
            self.on_event(id, received);
        }
    }

    /// Handles events until `done` holds (bounded).
    async fn until(&mut self, what: &str, done: impl Fn(&World) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some((id, received))) => self.on_event(id, received),
                _ => self.fail(format!("timed out waiting for {what}")),
            }
        }
    }

    async fn connect(&mut self, peer: bool) -> usize {
        let id = self.clients.len();
        let ws = WsClient::connect(id, self.relay.addr, None, self.events_tx.clone()).await;
        self.clients.push(Client {
            peer,
            ws: Some(ws),
            ..Client::default()
        });
        let role = if peer { Role::Peer } else { Role::Seeker };
        self.send(id, &ClientFrame::hello_v1(role, PROGRAM)).await;
        id
    }

    async fn send(&mut self, id: usize, frame: &ClientFrame) {
        let ok = self.clients[id].ws.as_mut().unwrap().send(frame).await;
        assert!(ok, "seed {}: client {id} could not send", self.seed);
    }

    async fn connect_peer(&mut self, index: usize) -> usize {
        let id = self.connect(true).await;
        self.until("peer welcome", |w| w.clients[id].welcomed).await;
        let present = self.credentials[index].present_frame();
        self.send(id, &present).await;
        self.until("challenge", |w| w.clients[id].challenge.is_some())
            .await;
        let challenge = self.clients[id].challenge.clone().unwrap();
        let answer = self.credentials[index].answer(&challenge);
        self.send(
            id,
            &ClientFrame::Prove {
                answer: answer.into(),
            },
        )
        .await;
        self.until("verified", |w| w.clients[id].verified).await;
        let capacity = 1 + self.rng.below(3) as u16;
        let auto_accept = self.rng.chance(30);
        self.send(
            id,
            &ClientFrame::SetAvailability {
                status: Availability::Available,
                capacity,
                topics: vec![],
                languages: vec![],
                auto_accept,
            },
        )
        .await;
        self.until("availability", |w| w.clients[id].available)
            .await;
        id
    }

    fn live(&self, peer: bool) -> Vec<usize> {
        (0..self.clients.len())
            .filter(|i| {
                let c = &self.clients[*i];
                c.peer == peer && !c.dropped && c.closed.is_none() && c.welcomed
            })
            .collect()
    }

    fn pick(&mut self, from: &[usize]) -> Option<usize> {
        (!from.is_empty()).then(|| from[self.rng.below(from.len())])
    }

    async fn send_data(&mut self, id: usize, chat: u32, count: usize) {
        for _ in 0..count {
            let seq = {
                let next = self.clients[id].sent.entry(chat).or_default();
                let seq = *next;
                *next += 1;
                seq
            };
            let padding = self.rng.below(200);
            let payload = tag(id, chat, seq, padding);
            let ws = self.clients[id].ws.as_mut().unwrap();
            assert!(ws.send_data(ChatNumber(chat), &payload).await);
            self.messages += 1;
        }
    }

    /// One random step.
    async fn step(&mut self) {
        let seekers = self.live(false);
        let peers = self.live(true);
        match self.rng.below(100) {
            0..=7 if seekers.len() < MAX_SEEKERS => {
                self.connect(false).await;
            }
            0..=19 => {
                let idle: Vec<usize> = seekers
                    .iter()
                    .copied()
                    .filter(|i| !self.clients[*i].seeking && self.clients[*i].open.is_empty())
                    .collect();
                if let Some(id) = self.pick(&idle) {
                    self.clients[id].seeking = true;
                    self.send(
                        id,
                        &ClientFrame::Seek {
                            preferences: SeekPreferences::default(),
                            urgent: false,
                        },
                    )
                    .await;
                }
            }
            20..=23 => {
                let waiting: Vec<usize> = seekers
                    .iter()
                    .copied()
                    .filter(|i| self.clients[*i].seeking)
                    .collect();
                if let Some(id) = self.pick(&waiting) {
                    self.send(id, &ClientFrame::Cancel {}).await;
                }
            }
            24..=37 => {
                let offered: Vec<usize> = peers
                    .iter()
                    .copied()
                    .filter(|i| !self.clients[*i].offers.is_empty())
                    .collect();
                if let Some(id) = self.pick(&offered) {
                    let offers = self.clients[id].offers.clone();
                    let offer = offers[self.rng.below(offers.len())];
                    self.clients[id].offers.retain(|o| *o != offer);
                    let frame = if self.rng.chance(75) {
                        ClientFrame::Accept { offer }
                    } else {
                        ClientFrame::Decline { offer }
                    };
                    self.send(id, &frame).await;
                }
            }
            38..=79 => {
                let all: Vec<usize> = seekers
                    .iter()
                    .chain(peers.iter())
                    .copied()
                    .filter(|i| {
                        self.clients[*i]
                            .open
                            .difference(&self.clients[*i].ending)
                            .next()
                            .is_some()
                    })
                    .collect();
                if let Some(id) = self.pick(&all) {
                    let client = &self.clients[id];
                    // A peer sends on a chat only once the seeker's first frame (msg1) has
                    // arrived: the spec's rule, which the relay enforces by closing it.
                    let open: Vec<u32> = client
                        .open
                        .difference(&client.ending)
                        .copied()
                        .filter(|chat| !client.peer || client.received.contains_key(chat))
                        .collect();
                    if !open.is_empty() {
                        let chat = open[self.rng.below(open.len())];
                        let count = 1 + self.rng.below(3);
                        self.send_data(id, chat, count).await;
                    }
                }
            }
            80..=87 => {
                let all: Vec<usize> = seekers
                    .iter()
                    .chain(peers.iter())
                    .copied()
                    .filter(|i| !self.clients[*i].open.is_empty())
                    .collect();
                if let Some(id) = self.pick(&all) {
                    let open: Vec<u32> = self.clients[id].open.iter().copied().collect();
                    let chat = ChatNumber(open[self.rng.below(open.len())]);
                    self.clients[id].ending.insert(chat.0);
                    let frame = if self.clients[id].peer && self.rng.chance(25) {
                        ClientFrame::Block { chat }
                    } else {
                        ClientFrame::End { chat }
                    };
                    self.send(id, &frame).await;
                }
            }
            88..=92 => {
                // Kill a client: mostly seekers; a peer is replaced by a fresh connection.
                let kill_peer = self.rng.chance(25) && !peers.is_empty();
                let from = if kill_peer { &peers } else { &seekers };
                if let Some(id) = self.pick(&from.clone()) {
                    let client = &mut self.clients[id];
                    client.dropped = true;
                    client.ws.take().unwrap().kill();
                    if kill_peer {
                        let index = self.rng.below(PEERS);
                        self.connect_peer(index).await;
                    }
                }
            }
            _ => {}
        }
        let pause = Duration::from_millis(self.rng.below(3) as u64);
        self.pump(pause).await;
    }

    /// Ends everything, waits for the relay to settle, checks every property.
    async fn finish_and_check(mut self) -> (u64, usize, BTreeMap<String, usize>) {
        // No new matches: peers go away, waiting seekers cancel. Then every live client
        // ends its open chats, until none is left (a match may cross the `away`).
        for id in 0..self.clients.len() {
            if self.clients[id].dropped || !self.clients[id].welcomed {
                continue;
            }
            if self.clients[id].peer {
                if self.clients[id].available {
                    let away = ClientFrame::SetAvailability {
                        status: Availability::Away,
                        capacity: 1,
                        topics: vec![],
                        languages: vec![],
                        auto_accept: false,
                    };
                    self.send(id, &away).await;
                }
            } else {
                self.send(id, &ClientFrame::Cancel {}).await;
            }
        }
        for _ in 0..20 {
            self.pump(Duration::from_millis(50)).await;
            let mut any = false;
            for id in 0..self.clients.len() {
                if self.clients[id].dropped {
                    continue;
                }
                let open: Vec<u32> = self.clients[id].open.iter().copied().collect();
                for chat in open {
                    any = true;
                    self.send(
                        id,
                        &ClientFrame::End {
                            chat: ChatNumber(chat),
                        },
                    )
                    .await;
                }
            }
            if !any && self.relay.stats().await.active_chats == 0 {
                break;
            }
        }
        self.until("every chat ended", |w| {
            w.clients.iter().all(|c| c.dropped || c.open.is_empty())
        })
        .await;
        for client in &mut self.clients {
            if let Some(ws) = client.ws.take() {
                client.dropped = true;
                ws.close().await;
            }
        }
        self.relay.wait_idle(0).await;
        self.pump(Duration::from_millis(20)).await;

        // Who talks to whom: each receiving chat hears from exactly one sending chat.
        let mut source_of: HashMap<Stream, Stream> = HashMap::new();
        for (id, client) in self.clients.iter().enumerate() {
            for (chat, tags) in &client.received {
                let (sender, sender_chat, _) = tags[0];
                for (i, (s, sc, seq)) in tags.iter().enumerate() {
                    if (*s, *sc) != (sender, sender_chat) {
                        self.fail(format!(
                            "client {id} chat {chat} heard from {sender}/{sender_chat} and {s}/{sc}"
                        ));
                    }
                    if *seq != i as u64 {
                        self.fail(format!(
                            "client {id} chat {chat}: message {i} had sequence {seq} (out of order, duplicated or lost in the middle)"
                        ));
                    }
                }
                if self.clients[sender].peer == client.peer {
                    self.fail(format!(
                        "client {id} chat {chat} heard from a client of its own role"
                    ));
                }
                source_of.insert((id, *chat), (sender, sender_chat));
            }
        }
        // Never fanned out: one sending chat lands in one receiving chat.
        let mut target_of: HashMap<Stream, Stream> = HashMap::new();
        for (receiver, sender) in &source_of {
            if let Some(other) = target_of.insert(*sender, *receiver) {
                self.fail(format!(
                    "{sender:?} reached both {other:?} and {receiver:?}"
                ));
            }
        }
        // Symmetric: if A's chat hears B's chat, B's chat hears (if anything) A's chat.
        for (receiver, sender) in &source_of {
            if let Some(back) = source_of.get(sender)
                && back != receiver
            {
                self.fail(format!(
                    "{receiver:?} hears {sender:?}, which hears {back:?}"
                ));
            }
        }
        // Every message arrived, or its sender was told the chat ended for a reason that
        // can drop frames in flight, or one side was killed.
        let mut unverifiable = 0;
        for (id, client) in self.clients.iter().enumerate() {
            for (chat, sent) in &client.sent {
                let reason = client.ended.get(chat).copied();
                let got = target_of
                    .get(&(id, *chat))
                    .map_or(0, |r| self.clients[r.0].received[&r.1].len() as u64);
                if got == *sent {
                    continue;
                }
                let killed_sender = client.dropped && reason.is_none();
                let killed_receiver = target_of
                    .get(&(id, *chat))
                    .is_some_and(|r| !self.clients[r.0].ended.contains_key(&r.1));
                let told = matches!(
                    reason,
                    Some(r) if r != ChatEndReason::Ended
                );
                if !(killed_sender || killed_receiver || told) {
                    if target_of.contains_key(&(id, *chat)) || got > 0 {
                        self.fail(format!(
                            "client {id} chat {chat}: {got} of {sent} delivered, sender told {reason:?}"
                        ));
                    }
                    // Its partner never received anything, so the test cannot name it.
                    unverifiable += 1;
                }
            }
            // Every chat a surviving client had was ended with a reason it was told.
            if client.closed.is_none() {
                for chat in &client.seen {
                    if !client.ended.contains_key(chat) && client.ws.is_some() {
                        self.fail(format!("client {id} never told chat {chat} ended"));
                    }
                }
            }
        }
        (self.messages, unverifiable, self.errors)
    }
}

async fn run_case(seed: u64, steps: usize) -> (u64, usize, usize, BTreeMap<String, usize>) {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let mut limits = test_limits();
    limits.max_connections = 256;
    limits.max_connections_per_source = 256;
    limits.max_queue = 64;
    limits.frames_per_second = 100_000;
    limits.frame_burst = 100_000;
    limits.offer_timeout = Duration::from_secs(1);
    let relay = TestRelay::start(vec![fixture.program_config()], limits).await;
    let credentials = (0..PEERS).map(|_| fixture.supporter()).collect();
    let (events_tx, events) = mpsc::unbounded_channel();
    let mut world = World {
        rng: SplitMix::new(seed),
        seed,
        relay,
        credentials,
        clients: Vec::new(),
        events_tx,
        events,
        messages: 0,
        errors: BTreeMap::new(),
    };
    for index in 0..PEERS {
        world.connect_peer(index).await;
    }
    for _ in 0..steps {
        world.step().await;
    }
    let chats: usize = world
        .clients
        .iter()
        .filter(|c| !c.peer)
        .map(|c| c.seen.len())
        .sum();
    let (messages, unverifiable, errors) = world.finish_and_check().await;
    (messages, chats, unverifiable, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_exactly_their_own_partner() {
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let cases = env("CONFIDANT_ISOLATION_CASES", 4);
    let steps = env("CONFIDANT_ISOLATION_STEPS", 300);
    let seed = SplitMix::seed_from_env();
    println!(
        "isolation property: seed {seed} ({cases} cases × {steps} steps); replay with CONFIDANT_SEED={seed}"
    );
    let (mut messages, mut chats, mut unverifiable) = (0, 0, 0);
    let mut errors = BTreeMap::new();
    for case in 0..cases as u64 {
        let (m, c, u, e) = run_case(seed.wrapping_add(case), steps).await;
        messages += m;
        chats += c;
        unverifiable += u;
        for (code, n) in e {
            *errors.entry(code).or_insert(0) += n;
        }
    }
    assert!(chats >= cases, "too few chats ({chats}) to mean anything");
    let races: Vec<String> = errors.iter().map(|(c, n)| format!("{n} `{c}`")).collect();
    Row {
        attack: "Isolation property: random interleavings of 10 seekers and 3 peers (connect, seek, cancel, accept, decline, send, end, block, kill)",
        outcome: format!(
            "every tagged message reached exactly its own partner, in order, once (or its sender was told the chat ended); races answered only with {}",
            if races.is_empty() { "nothing".to_owned() } else { races.join(", ") }
        ),
        refused: "-".into(),
        memory: "-".into(),
        canary: format!(
            "{cases} cases × {steps} steps, {chats} chats, {messages} messages, {unverifiable} streams whose partner never heard a word; seed {seed}"
        ),
    }
    .print();
}
