// The Kotlin seeker (and a Kotlin peer supporter) against the real relay on loopback (scripts/check-kotlin starts it with
// --dev): the generated bindings, the JNA loading of libconfidant_ffi and the SDK, end to
// end. Plain main() with a tiny runner, so nothing beyond the Kotlin compiler and
// kotlinx-coroutines is needed; it prints "N passed, N failed" and exits non-zero on any
// failure.
//
// Threading as an app must do it: every SDK call runs on Dispatchers.IO, never on the
// caller's (main) thread (uniffi-rs #1901), and every wait is bounded.

import confidant.sdk.*
import kotlinx.coroutines.*
import java.io.File
import java.util.Base64
import kotlin.system.exitProcess

const val DEMO_PEER_NAME = "Demo peer (not a real person)"

class Check(message: String) : Exception(message)

fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw Check(message())
}

/** The next event that is not noise for the test (queue updates, typing, receipts, cards). */
suspend fun SeekerSession.nextSignificant(): SeekerEvent? {
    while (true) {
        val event = nextEvent() ?: return null
        when (event) {
            is SeekerEvent.Queued, is SeekerEvent.Typing, is SeekerEvent.ReadUpTo,
            is SeekerEvent.ResourceShared -> continue
            else -> return event
        }
    }
}

/** The next peer event that is not noise for the test. */
suspend fun PeerSession.nextSignificant(): PeerEvent? {
    while (true) {
        val event = nextEvent() ?: return null
        when (event) {
            is PeerEvent.Typing, is PeerEvent.ReadUpTo, is PeerEvent.ChatStarted -> continue
            else -> return event
        }
    }
}

/** The program key as an app ships it: 64 hex digits (here read from the relay's dev
 *  `root.pub`, an out-of-band copy, never the relay's claim in the program list). */
fun programKeyHex(rootPubFile: File): String {
    val base64 = rootPubFile.readLines().getOrNull(1)?.trim() ?: throw Check("root.pub has no key line")
    return Base64.getDecoder().decode(base64).joinToString("") { "%02x".format(it) }
}

/** Runs each test as an app must call the SDK: on Dispatchers.IO, never on the caller's
 *  (main) thread (uniffi-rs #1901), bounded in time; counts and prints the outcome. */
class Runner {
    private val mainThread = Thread.currentThread()
    var passed = 0
    var failed = 0

    fun test(name: String, body: suspend CoroutineScope.() -> Unit) {
        val started = System.nanoTime()
        try {
            runBlocking {
                withTimeout(30_000) {
                    withContext(Dispatchers.IO) {
                        check(Thread.currentThread() !== mainThread) { "SDK call on the main thread" }
                        body()
                    }
                }
            }
            passed++
            println("ok     %-62s %5d ms".format(name, (System.nanoTime() - started) / 1_000_000))
        } catch (e: Throwable) {
            failed++
            println("FAILED $name: $e")
        }
    }
}

fun main(args: Array<String>) {
    if (args.size != 3) {
        System.err.println("usage: ConfidantTest DEV_RELAY_URL DEV_CREDENTIAL_DIR FIXTURE_DIR")
        exitProcess(2)
    }
    val url = args[0]
    val dir = File(args[1])
    val program = File(dir, "program").readText().trim()
    val key = programKeyHex(File(dir, "root.pub"))
    val config = SeekerConfig(trust = RelayTrust.PublicRoots, connectTimeoutMs = 10_000uL, avoidDepartment = null)
    val runner = Runner()
    fun test(name: String, body: suspend CoroutineScope.() -> Unit) = runner.test(name, body)
    test("the relay lists the program; its claimed key matches the pinned one") {
        val programs = listPrograms(url, RelayTrust.PublicRoots, 5_000uL)
        val listed = programs.find { it.id == program } ?: throw Check("$program not listed")
        check(listed.rootKeyClaimedByRelay == key) { "claimed key differs" }
        check(listed.resources.isNotEmpty()) { "no resources" }
    }

    test("a seeker chats with the demo peer: verified card, text both ways, clean end") {
        val seeker = connectSeeker(url, program, key, config)
        try {
            check(seeker.program().id == program) { "welcome names ${seeker.program().id}" }
            seeker.seek(SeekPreferences())
            val matched = seeker.nextSignificant()
            check(matched is SeekerEvent.Matched) { "expected Matched, got $matched" }
            val card = (matched as SeekerEvent.Matched).peer
            check(card.displayName == DEMO_PEER_NAME) { "card names ${card.displayName}" }
            val greeting = seeker.nextSignificant()
            check(greeting is SeekerEvent.Message) { "expected the greeting, got $greeting" }
            val number = seeker.sendText("Hello from Kotlin on the JVM")
            check(number == 1uL) { "first message numbered $number" }
            val reply = seeker.nextSignificant()
            check(reply is SeekerEvent.Message && reply.text.isNotBlank()) { "expected a reply, got $reply" }
            seeker.markRead(2uL)
            seeker.end()
            val ended = seeker.nextSignificant()
            check(ended is SeekerEvent.Ended && ended.reason == EndReason.Local) { "expected Ended(Local), got $ended" }
            // After the end, sending is refused with a typed error.
            try {
                seeker.sendText("after the end")
                throw Check("sendText after end succeeded")
            } catch (e: ConfidantException.NoChat) {
            }
        } finally {
            seeker.disconnect()
            seeker.destroy()
        }
    }

    test("networkChanged() mid-chat: a new socket resumes the chat, nothing lost or doubled") {
        val seeker = connectSeeker(url, program, key, config)
        try {
            seeker.seek(SeekPreferences())
            val matched = seeker.nextSignificant()
            check(matched is SeekerEvent.Matched) { "expected Matched, got $matched" }
            val greeting = seeker.nextSignificant()
            check(greeting is SeekerEvent.Message) { "expected the greeting, got $greeting" }
            // What an app calls from its ConnectivityManager / NWPathMonitor callback.
            seeker.networkChanged()
            val lost = seeker.nextSignificant()
            check(lost is SeekerEvent.ConnectionLost && lost.graceMs > 0uL) { "expected ConnectionLost, got $lost" }
            // Sent while the socket is being replaced: kept, and sent once after the resume.
            seeker.sendText("sent while reconnecting")
            val back = seeker.nextSignificant()
            check(back is SeekerEvent.Reconnected) { "expected Reconnected, got $back" }
            val reply = seeker.nextSignificant()
            check(reply is SeekerEvent.Message && reply.text.isNotBlank()) { "expected the demo peer's one reply, got $reply" }
            seeker.end()
            val ended = seeker.nextSignificant()
            check(ended is SeekerEvent.Ended && ended.reason == EndReason.Local) { "expected Ended(Local), got $ended" }
        } finally {
            seeker.disconnect()
            seeker.destroy()
        }
    }

    test("quick exit mid-chat: the connection and every event are gone at once") {
        val seeker = connectSeeker(url, program, key, config)
        seeker.seek(SeekPreferences())
        val matched = seeker.nextSignificant()
        check(matched is SeekerEvent.Matched) { "expected Matched, got $matched" }
        val started = System.nanoTime()
        seeker.quickExit()
        val tookMs = (System.nanoTime() - started) / 1_000_000
        check(tookMs < 1_000) { "quick exit took $tookMs ms" }
        check(seeker.nextEvent() == null) { "an event after quick exit" }
        try {
            seeker.sendText("after quick exit")
            throw Check("sendText after quick exit succeeded")
        } catch (e: ConfidantException.Shutdown) {
        }
        seeker.destroy()
    }

    test("a wrong program key: the chat ends as PeerRejected(BAD_SIGNATURE), nothing shown") {
        val wrongKey = key.substring(0, 62) + if (key.endsWith("00")) "01" else "00"
        val seeker = connectSeeker(url, program, wrongKey, config)
        try {
            seeker.seek(SeekPreferences())
            val ended = seeker.nextSignificant()
            check(ended is SeekerEvent.Ended) { "expected Ended, got $ended (an impostor was shown?)" }
            val reason = (ended as SeekerEvent.Ended).reason
            check(reason is EndReason.Failed) { "expected Failed, got $reason" }
            val error = (reason as EndReason.Failed).error
            check(error is ConfidantException.PeerRejected && error.reason == CredentialFailure.BAD_SIGNATURE) {
                "expected PeerRejected(BAD_SIGNATURE), got $error"
            }
        } finally {
            seeker.disconnect()
            seeker.destroy()
        }
    }

    test("cancelling a coroutine in nextEvent drops the Rust future (uniffi-rs #1669)") {
        val seeker = connectSeeker(url, program, key, config)
        try {
            // nextEvent holds the session's event lock while it waits. If cancelling the
            // coroutine leaked the Rust future, the lock would stay held and the second
            // nextEvent below would never return.
            val waiting = launch(Dispatchers.IO) { seeker.nextEvent() }
            delay(200)
            check(waiting.isActive) { "nextEvent returned with nothing to report" }
            waiting.cancelAndJoin()
            seeker.seek(SeekPreferences())
            val next = withTimeoutOrNull(10_000) { seeker.nextEvent() }
            check(next is SeekerEvent.Queued || next is SeekerEvent.Matched) { "after the cancel, got $next" }
            // Many cancelled waits in a row leave nothing behind either.
            repeat(50) {
                val job = launch(Dispatchers.IO) { seeker.nextEvent() }
                yield()
                job.cancelAndJoin()
            }
            seeker.quickExit()
        } finally {
            seeker.destroy()
        }
    }

    test("a Kotlin peer holds two chats with two Kotlin seekers, each by its number") {
        // The relay's test supporter (role "resident"); the demo peer's role is "demo", so
        // seekers asking for a resident reach only this peer.
        val credential = PeerCredential(
            key = File(dir, "supporter.key").readText(),
            credential = File(dir, "supporter.credential").readText(),
            revocationList = File(dir, "revocation.list").readText(),
        )
        val peer = connectPeer(url, program, credential, RelayTrust.PublicRoots, 10_000uL)
        credential.destroy()
        val resident = SeekPreferences(peerRole = "resident")
        val seekers = mutableListOf<SeekerSession>()
        try {
            check(peer.displayName().contains("not a real person")) { "peer named ${peer.displayName()}" }
            peer.setAvailability(Availability.AVAILABLE, 2u, listOf(), listOf(), false)
            val set = peer.nextSignificant()
            check(set is PeerEvent.AvailabilitySet && set.capacity.toInt() == 2) { "expected AvailabilitySet, got $set" }
            val chats = mutableListOf<UInt>()
            repeat(2) { n ->
                val seeker = connectSeeker(url, program, key, config)
                seekers += seeker
                seeker.seek(resident)
                val offer = peer.nextSignificant()
                check(offer is PeerEvent.Offer) { "expected an Offer, got $offer" }
                peer.accept((offer as PeerEvent.Offer).offer)
                val ready = peer.nextSignificant()
                check(ready is PeerEvent.ChatReady) { "expected ChatReady, got $ready" }
                chats += (ready as PeerEvent.ChatReady).chat
                val matched = seeker.nextSignificant()
                check(matched is SeekerEvent.Matched && matched.peer.role == "resident") { "seeker $n: expected Matched(resident), got $matched" }
            }
            check(chats.toSet().size == 2) { "chat numbers $chats" }
            // Text both ways in each chat, answered by chat number.
            for ((n, seeker) in seekers.withIndex()) {
                seeker.sendText("seeker $n here")
                val heard = peer.nextSignificant()
                check(heard is PeerEvent.Message && heard.chat == chats[n] && heard.text == "seeker $n here") { "peer heard $heard" }
                peer.sendText(chats[n], "peer to seeker $n")
                val reply = seekers[n].nextSignificant()
                check(reply is SeekerEvent.Message && reply.text == "peer to seeker $n") { "seeker $n got $reply" }
            }
            // The first seeker ends; the peer ends the second.
            seekers[0].end()
            val ended = peer.nextSignificant()
            check(ended is PeerEvent.Ended && ended.chat == chats[0] && ended.reason == EndReason.PartnerEnded) { "peer saw $ended" }
            peer.end(chats[1])
            val endedByPeer = peer.nextSignificant()
            check(endedByPeer is PeerEvent.Ended && endedByPeer.reason == EndReason.Local) { "peer saw $endedByPeer" }
            val seekerSaw = seekers[1].nextSignificant()
            check(seekerSaw is SeekerEvent.Ended && seekerSaw.reason == EndReason.PartnerEnded) { "seeker 1 saw $seekerSaw" }
        } finally {
            for (seeker in seekers) {
                seeker.disconnect()
                seeker.destroy()
            }
            peer.disconnect()
            peer.destroy()
        }
    }

    test("typed errors: bad URL, bad key, unknown program (catalogue code)") {
        try {
            connectSeeker("http://127.0.0.1:1/v1/ws", program, key, config)
            throw Check("http:// accepted")
        } catch (e: ConfidantException.InvalidUrl) {
        }
        try {
            connectSeeker(url, program, "not hex", config)
            throw Check("a malformed key accepted")
        } catch (e: ConfidantException.Credential) {
        }
        try {
            connectSeeker(url, "no-such-program", key, config)
            throw Check("an unknown program accepted")
        } catch (e: ConfidantException.Relay) {
            check(e.code == RelayErrorCode.UNKNOWN_PROGRAM) { "code ${e.code}" }
        }
    }

    fixtureTests(runner, File(args[2]))

    println("${runner.passed} passed, ${runner.failed} failed")
    exitProcess(if (runner.failed == 0) 0 else 1)
}
