// The Kotlin seeker and peer against the relays of `kotlin-fixtures` (tests/src/bin/
// kotlin-fixtures.rs, started by scripts/check-kotlin): an honest relay, malicious relays
// in front of it (a swapped certificate, a chain from a root the relay made, a revoked
// supporter matched anyway), an operator revoking a supporter mid-chat, and a wss:// relay
// behind a private CA. Each ends with the typed error an app must show, or succeeds.

import confidant.sdk.*
import kotlinx.coroutines.*
import java.io.File
import java.io.IOException
import java.net.InetAddress
import java.net.ServerSocket
import java.net.SocketTimeoutException
import java.util.Properties

/** What kotlin-fixtures wrote: URLs, program ids and keys, supporters' files. */
class Fixture(private val dir: File) {
    private val properties = Properties().apply { File(dir, "fixture.properties").reader().use { load(it) } }

    operator fun get(name: String): String = properties.getProperty(name) ?: throw Check("the fixture has no $name")

    fun file(name: String): String = File(dir, name).readText()

    /** A supporter's credential, loaded as an app loads it just before connectPeer. */
    fun credential(name: String) = PeerCredential(
        key = file("$name.key"),
        credential = file("$name.credential"),
        revocationList = file("$name.list"),
    )

    fun trigger(name: String) = File(dir, name).createNewFile()
}

/** A peer supporter online and available for one chat, answering offers by hand. */
suspend fun onlinePeer(fixture: Fixture, url: String, program: String, name: String, trust: RelayTrust = RelayTrust.PublicRoots): PeerSession {
    val credential = fixture.credential(name)
    val peer = try {
        connectPeer(url, program, credential, trust, 10_000uL)
    } finally {
        credential.destroy()
    }
    peer.setAvailability(Availability.AVAILABLE, 1u, listOf(), listOf(), false)
    val set = peer.nextSignificant()
    check(set is PeerEvent.AvailabilitySet) { "expected AvailabilitySet, got $set" }
    return peer
}

/** The peer takes the next offer; returns the offer number. */
suspend fun PeerSession.acceptNext(): UInt {
    val offer = nextSignificant()
    check(offer is PeerEvent.Offer) { "expected an Offer, got $offer" }
    accept((offer as PeerEvent.Offer).offer)
    return offer.offer
}

/** How the seeker's chat ended, failing if anything from the peer was shown before. */
suspend fun SeekerSession.endedWithoutShowingAnything(): EndReason {
    while (true) {
        when (val event = nextEvent()) {
            is SeekerEvent.Ended -> return event.reason
            is SeekerEvent.Matched, is SeekerEvent.Message, is SeekerEvent.ResourceShared ->
                throw Check("shown from an unauthenticated peer: $event")
            is SeekerEvent.Disconnected, null -> throw Check("the connection ended first: $event")
            else -> continue
        }
    }
}

fun failedWith(reason: EndReason): ConfidantException? = (reason as? EndReason.Failed)?.error

suspend fun session(block: suspend (MutableList<Disposable>) -> Unit) {
    val open = mutableListOf<Disposable>()
    try {
        block(open)
    } finally {
        for (o in open.reversed()) {
            when (o) {
                is SeekerSession -> o.disconnect()
                is PeerSession -> o.disconnect()
            }
            o.destroy()
        }
    }
}

fun fixtureTests(runner: Runner, dir: File) {
    fun test(name: String, body: suspend CoroutineScope.() -> Unit) = runner.test(name, body)
    val fixture = Fixture(dir)
    val relay = fixture["relay_url"]
    val program = fixture["program"]
    val key = fixture["program_key"]
    val config = SeekerConfig(trust = RelayTrust.PublicRoots, connectTimeoutMs = 10_000uL, avoidDepartment = null)

    test("PeerCredential: toString() and the object withhold the key; a wrong key is refused") {
        val keyText = fixture.file("good.key")
        val secret = keyText.lines()[1].trim()
        check(secret.length == 44) { "unexpected key file layout" }
        val hex = java.util.Base64.getDecoder().decode(secret).joinToString("") { "%02x".format(it) }
        val credential = fixture.credential("good")
        try {
            val printed = credential.toString()
            check(printed.contains("Dr. Good Peer")) { "toString() says $printed" }
            for (leak in listOf(secret, hex, keyText.trim())) {
                check(!printed.contains(leak, ignoreCase = true)) { "toString() prints the key: $printed" }
            }
            check(credential.displayName() == "Dr. Good Peer") { "displayName ${credential.displayName()}" }
            // Nothing on the Kotlin side holds the key: the object's fields (its own and
            // inherited) are a native handle and bookkeeping, no text.
            var type: Class<*>? = credential.javaClass
            while (type != null) {
                for (field in type.declaredFields) {
                    check(field.type != String::class.java && field.type != CharArray::class.java && field.type != ByteArray::class.java) {
                        "PeerCredential has a field ${field.name}: ${field.type}"
                    }
                }
                type = type.superclass
            }
        } finally {
            credential.destroy()
        }
        // Another supporter's key with this credential: refused at load time, and the
        // error names no key.
        try {
            PeerCredential(key = fixture.file("midchat.key"), credential = fixture.file("good.credential"), revocationList = fixture.file("good.list"))
            throw Check("a key that is not the certificate's was accepted")
        } catch (e: ConfidantException.Credential) {
            val otherSecret = fixture.file("midchat.key").lines()[1].trim()
            check(!e.toString().contains(otherSecret)) { "the error prints the key: $e" }
        }
    }

    test("a revoked supporter cannot go online: Relay(CREDENTIAL_REVOKED)") {
        val credential = fixture.credential("revoked")
        try {
            connectPeer(relay, program, credential, RelayTrust.PublicRoots, 10_000uL).destroy()
            throw Check("a revoked supporter was let in")
        } catch (e: ConfidantException.Relay) {
            check(e.code == RelayErrorCode.CREDENTIAL_REVOKED) { "code ${e.code}" }
        } finally {
            credential.destroy()
        }
    }

    test("a relay that matches a revoked supporter: PeerRejected(REVOKED), nothing shown") { session { open ->
        // The stale program's relay holds a list that revokes nobody, so `stale` is online;
        // the program has since revoked them. Control: straight to the relay, which passes
        // its own (old) list on, the seeker is matched with them.
        val staleProgram = fixture["stale_program"]
        val staleKey = fixture["stale_program_key"]
        val peer = onlinePeer(fixture, relay, staleProgram, "stale").also { open += it }
        val control = connectSeeker(relay, staleProgram, staleKey, config).also { open += it }
        control.seek(SeekPreferences())
        peer.acceptNext()
        val matched = control.nextSignificant()
        check(matched is SeekerEvent.Matched && matched.peer.displayName == "Dr. Stale Peer") { "control: expected Matched, got $matched" }
        check(peer.nextSignificant() is PeerEvent.ChatReady) { "control: the peer's chat never opened" }
        control.end()
        val controlEnded = peer.nextSignificant()
        check(controlEnded is PeerEvent.Ended && controlEnded.reason == EndReason.PartnerEnded) { "control: peer saw $controlEnded" }
        // A relay that has the program's current list (it passes it on in `matched`) and
        // matches the revoked supporter anyway.
        val seeker = connectSeeker(fixture["revoking_url"], staleProgram, staleKey, config).also { open += it }
        seeker.seek(SeekPreferences())
        peer.acceptNext()
        val error = failedWith(seeker.endedWithoutShowingAnything())
        check(error is ConfidantException.PeerRejected && error.reason == CredentialFailure.REVOKED) {
            "expected PeerRejected(REVOKED), got $error"
        }
    } }

    test("a relay that swaps in another supporter's certificate: no Matched, handshake fails") { session { open ->
        // The swapped-in certificate is genuinely signed by the program (another supporter,
        // not online): it verifies, but the real peer cannot read a handshake made for
        // another key and ends the chat, so the seeker never gets a secure channel.
        val peer = onlinePeer(fixture, relay, program, "good").also { open += it }
        val seeker = connectSeeker(fixture["swap_url"], program, key, config).also { open += it }
        seeker.seek(SeekPreferences())
        peer.acceptNext()
        val reason = seeker.endedWithoutShowingAnything()
        check(reason == EndReason.WithoutEndRecord(ChatEndReason.PARTNER_ENDED)) { "seeker: expected WithoutEndRecord(PARTNER_ENDED), got $reason" }
        val ended = peer.nextSignificant()
        check(ended is PeerEvent.Ended) { "peer: expected Ended, got $ended" }
        val error = failedWith((ended as PeerEvent.Ended).reason)
        check(error is ConfidantException.Handshake && error.code == "handshake_decrypt_failed") { "peer: expected Handshake(handshake_decrypt_failed), got $error" }
    } }

    test("a relay that presents a chain from its own root: PeerRejected(BAD_SIGNATURE)") { session { open ->
        val peer = onlinePeer(fixture, relay, program, "good").also { open += it }
        val seeker = connectSeeker(fixture["rogue_url"], program, key, config).also { open += it }
        seeker.seek(SeekPreferences())
        peer.acceptNext()
        val error = failedWith(seeker.endedWithoutShowingAnything())
        check(error is ConfidantException.PeerRejected && error.reason == CredentialFailure.BAD_SIGNATURE) {
            "expected PeerRejected(BAD_SIGNATURE), got $error"
        }
    } }

    test("wss:// with a private CA: refused under other trust, chats under PrivateCa") { session { open ->
        val tls = fixture["tls_url"]
        val ca = RelayTrust.PrivateCa(fixture.file("tls-ca.pem"))
        val refusals = listOf(
            "public roots" to Pair(tls, RelayTrust.PublicRoots),
            "another CA" to Pair(tls, RelayTrust.PrivateCa(fixture.file("other-ca.pem"))),
            "a PEM with no certificate" to Pair(tls, RelayTrust.PrivateCa("not a certificate")),
            "the right CA, the wrong host name" to Pair(fixture["tls_ip_url"], ca),
        )
        for ((what, attempt) in refusals) {
            try {
                connectSeeker(attempt.first, program, key, SeekerConfig(attempt.second, 5_000uL, null)).destroy()
                throw Check("$what: connected")
            } catch (e: ConfidantException.Tls) {
            }
        }
        val peer = onlinePeer(fixture, tls, program, "good", ca).also { open += it }
        val seeker = connectSeeker(tls, program, key, SeekerConfig(ca, 10_000uL, null)).also { open += it }
        seeker.seek(SeekPreferences())
        peer.acceptNext()
        val ready = peer.nextSignificant()
        check(ready is PeerEvent.ChatReady) { "peer: expected ChatReady, got $ready" }
        val chat = (ready as PeerEvent.ChatReady).chat
        val matched = seeker.nextSignificant()
        check(matched is SeekerEvent.Matched && matched.peer.displayName == "Dr. Good Peer") { "expected Matched, got $matched" }
        seeker.sendText("over wss")
        val heard = peer.nextSignificant()
        check(heard is PeerEvent.Message && heard.text == "over wss") { "peer heard $heard" }
        peer.sendText(chat, "heard you")
        val reply = seeker.nextSignificant()
        check(reply is SeekerEvent.Message && reply.text == "heard you") { "seeker got $reply" }
        seeker.end()
        val ended = seeker.nextSignificant()
        check(ended is SeekerEvent.Ended && ended.reason == EndReason.Local) { "expected Ended(Local), got $ended" }
    } }

    test("cancelling a coroutine in connectSeeker drops the Rust future and its socket") {
        // A "relay" that accepts the TCP connection and never answers: the SDK waits for
        // the WebSocket upgrade until its 25 s timeout. Cancelling the coroutine must drop
        // the Rust future at once, and with it the socket (uniffi-rs #1669: a leaked future
        // would keep the connection open until the timeout).
        ServerSocket(0, 1, InetAddress.getLoopbackAddress()).use { server ->
            server.soTimeout = 10_000
            val connecting = launch(Dispatchers.IO) {
                connectSeeker("ws://127.0.0.1:${server.localPort}/v1/ws", program, key, SeekerConfig(RelayTrust.PublicRoots, 25_000uL, null)).destroy()
            }
            val socket = runInterruptible { server.accept() }
            socket.use {
                delay(200)
                check(connecting.isActive) { "connectSeeker returned against a silent server" }
                connecting.cancelAndJoin()
                socket.soTimeout = 5_000
                val started = System.nanoTime()
                val input = socket.getInputStream()
                val buffer = ByteArray(4096)
                val closed = try {
                    while (input.read(buffer) >= 0) { }
                    true
                } catch (e: SocketTimeoutException) {
                    false
                } catch (e: IOException) {
                    true // reset: closed as well
                }
                val tookMs = (System.nanoTime() - started) / 1_000_000
                check(closed) { "the SDK kept the socket open ${tookMs} ms after the cancel: the Rust future leaked" }
            }
        }
    }

    test("an operator revokes the peer mid-chat: both sides end as REVOKED, no way back") { session { open ->
        val peer = onlinePeer(fixture, relay, program, "midchat").also { open += it }
        val seeker = connectSeeker(relay, program, key, config).also { open += it }
        seeker.seek(SeekPreferences())
        peer.acceptNext()
        val ready = peer.nextSignificant()
        check(ready is PeerEvent.ChatReady) { "peer: expected ChatReady, got $ready" }
        val matched = seeker.nextSignificant()
        check(matched is SeekerEvent.Matched && matched.peer.displayName == "Dr. Midchat Peer") { "expected Matched, got $matched" }
        fixture.trigger("revoke-midchat")
        val seekerSaw = seeker.nextSignificant()
        check(seekerSaw is SeekerEvent.Ended && seekerSaw.reason == EndReason.WithoutEndRecord(ChatEndReason.REVOKED)) {
            "seeker: expected Ended(WithoutEndRecord(REVOKED)), got $seekerSaw"
        }
        val peerSaw = peer.nextSignificant()
        check(peerSaw is PeerEvent.Ended && peerSaw.reason == EndReason.WithoutEndRecord(ChatEndReason.REVOKED)) {
            "peer: expected Ended(WithoutEndRecord(REVOKED)), got $peerSaw"
        }
        // The relay tells the supporter why it closes their connection.
        val told = peer.nextSignificant()
        check(told is PeerEvent.RelayError && told.code == RelayErrorCode.CREDENTIAL_REVOKED) {
            "peer: expected RelayError(CREDENTIAL_REVOKED), got $told"
        }
        val last = peer.nextSignificant()
        check(last == null || last is PeerEvent.Disconnected) { "peer: expected the connection to close, got $last" }
        val credential = fixture.credential("midchat")
        try {
            connectPeer(relay, program, credential, RelayTrust.PublicRoots, 10_000uL).destroy()
            throw Check("the revoked supporter came back")
        } catch (e: ConfidantException.Relay) {
            check(e.code == RelayErrorCode.CREDENTIAL_REVOKED) { "code ${e.code}" }
        } finally {
            credential.destroy()
        }
    } }
}
