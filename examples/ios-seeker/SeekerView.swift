// A minimal seeker view (SwiftUI) on Confidant's Swift bindings (module `Confidant`).
// NOT BUILT HERE: there is no Swift toolchain on the CI machine (see examples/README.md).
import SwiftUI
import Confidant

/// Pinned in the build, from the program's administrator; never taken from the relay.
private let relayURL = "wss://relay.example.org/v1/ws"
private let programID = "resident-peer-support"
private let programKeyHex = "<the program's root public key, 64 hex digits>"
private let emergency = "In danger now? Call 911 · Suicide Crisis Helpline 9-8-8"

@MainActor
final class SeekerModel: ObservableObject {
    enum Screen { case start, waiting(position: UInt32, nobody: Bool), chat(peer: PeerCard, lines: [(mine: Bool, text: String)]), ended(String) }
    @Published var screen: Screen = .start
    private var session: SeekerSession?
    private var events: Task<Void, Never>?

    func start() {
        events = Task {
            do {
                // The library's async calls run on its own runtime, not on the main actor.
                let s = try await connectSeeker(relayUrl: relayURL, programId: programID,
                                                programKeyHex: programKeyHex,
                                                config: SeekerConfig(trust: .publicRoots, connectTimeoutMs: 10_000, avoidDepartment: nil))
                session = s
                try await s.seek(preferences: SeekPreferences(topic: nil, language: nil, peerRole: nil))
                while let event = await s.nextEvent() {
                    switch event {
                    case let .queued(position, _, _, none): screen = .waiting(position: position, nobody: none != nil)
                    case let .matched(peer): screen = .chat(peer: peer, lines: [])
                    case let .message(text):
                        if case let .chat(peer, lines) = screen { screen = .chat(peer: peer, lines: lines + [(false, text)]) }
                    case .noPeer: screen = .ended("No peer is available right now.")
                    case .ended: screen = .ended("The chat has ended.")
                    default: break
                    }
                }
            } catch {
                screen = .ended("Could not connect.") // never log the error's details with content
            }
        }
    }

    func send(_ text: String) {
        guard let s = session else { return }
        Task {
            _ = try? await s.sendText(text: text)
            if case let .chat(peer, lines) = screen { screen = .chat(peer: peer, lines: lines + [(true, text)]) }
        }
    }

    /// Ends everything at once and forgets it.
    func quickExit() {
        let s = session
        session = nil
        events?.cancel()
        screen = .start
        Task { await s?.quickExit() }
    }
}

struct SeekerView: View {
    @StateObject private var model = SeekerModel()
    @Environment(\.scenePhase) private var phase
    @State private var draft = ""

    var body: some View {
        NavigationStack {
            content
                .toolbar { Button("Quick exit") { model.quickExit() } } // always one tap away
                .safeAreaInset(edge: .bottom) { Text(emergency).font(.footnote).padding(8) }
        }
        // Hide the conversation from the app switcher's snapshot.
        .overlay { if phase != .active { Color(.systemBackground).ignoresSafeArea() } }
    }

    @ViewBuilder private var content: some View {
        switch model.screen {
        case .start: Button("Talk to a peer") { model.start() }
        case let .waiting(position, nobody):
            Text(nobody ? "No peer is available right now. You can keep waiting." : "You are number \(position) in the queue.")
        case let .chat(peer, lines):
            VStack {
                Text("✓ \(peer.displayName) · \(peer.role)") // verified in the library against the pinned key
                List(lines.indices, id: \.self) { i in Text(lines[i].mine ? "You: \(lines[i].text)" : lines[i].text) }
                HStack {
                    TextField("Message", text: $draft).autocorrectionDisabled()
                    Button("Send") { model.send(draft); draft = "" }
                }
            }
        case let .ended(why): Text(why)
        }
    }
}
