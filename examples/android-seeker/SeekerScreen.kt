// A minimal seeker screen (Jetpack Compose) on Confidant's Kotlin bindings.
// NOT BUILT HERE: see examples/README.md. Manifest: android:allowBackup="false", and
// dataExtractionRules that exclude everything.
package org.example.confidant

import android.app.Activity
import android.os.Bundle
import android.view.WindowManager
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.viewModels
import androidx.compose.foundation.layout.*
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.*
import androidx.compose.runtime.*
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewModelScope
import confidant.sdk.*
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** Pinned in the build, from the program's administrator; never taken from the relay. */
private const val RELAY_URL = "wss://relay.example.org/v1/ws"
private const val PROGRAM_ID = "resident-peer-support"
private const val PROGRAM_KEY_HEX = "<the program's root public key, 64 hex digits>"
private const val EMERGENCY = "In danger now? Call 911 · Suicide Crisis Helpline 9-8-8"

sealed interface Screen {
    data object Start : Screen
    data class Waiting(val position: UInt, val nobody: Boolean) : Screen
    data class Chat(val peer: PeerCard, val lines: List<Pair<Boolean, String>>) : Screen
    data class Ended(val why: String) : Screen
}

class SeekerModel : ViewModel() {
    var screen by mutableStateOf<Screen>(Screen.Start)
        private set
    private var session: SeekerSession? = null
    private var events: Job? = null

    fun start() {
        events = viewModelScope.launch {
            // Every SDK call off the main thread (uniffi-rs #1901).
            val s = withContext(Dispatchers.IO) {
                connectSeeker(RELAY_URL, PROGRAM_ID, PROGRAM_KEY_HEX,
                    SeekerConfig(trust = RelayTrust.PublicRoots, avoidDepartment = null))
            }
            session = s
            withContext(Dispatchers.IO) { s.seek(SeekPreferences(topic = null, language = null, peerRole = null)) }
            while (true) {
                val event = withContext(Dispatchers.IO) { s.nextEvent() } ?: break
                screen = when (event) {
                    is SeekerEvent.Queued -> Screen.Waiting(event.position, event.none != null)
                    is SeekerEvent.Matched -> Screen.Chat(event.peer, emptyList())
                    is SeekerEvent.Message -> (screen as? Screen.Chat)
                        ?.let { it.copy(lines = it.lines + (false to event.text)) } ?: screen
                    is SeekerEvent.NoPeer -> Screen.Ended("No peer is available right now.")
                    is SeekerEvent.Ended -> Screen.Ended("The chat has ended.")
                    else -> screen
                }
            }
        }
    }

    fun send(text: String) {
        val s = session ?: return
        viewModelScope.launch {
            withContext(Dispatchers.IO) { s.sendText(text) }
            (screen as? Screen.Chat)?.let { screen = it.copy(lines = it.lines + (true to text)) }
        }
    }

    /** Ends everything at once and forgets it: the chat, the screen's state, the task. */
    fun quickExit(activity: Activity) {
        val s = session
        session = null
        events?.cancel() // cancelling drops the Rust future (uniffi-rs #1669, tested in CI)
        screen = Screen.Start
        viewModelScope.launch { withContext(Dispatchers.IO) { s?.quickExit() } }
        activity.finishAndRemoveTask() // and no entry left in Recents
    }
}

class SeekerActivity : ComponentActivity() {
    private val model: SeekerModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        // No screenshots, no screen recording, no thumbnail in Recents.
        window.setFlags(WindowManager.LayoutParams.FLAG_SECURE, WindowManager.LayoutParams.FLAG_SECURE)
        setContent {
            MaterialTheme {
                Scaffold(
                    topBar = {
                        // Quick exit is always on screen, one tap.
                        Row(Modifier.fillMaxWidth().padding(8.dp)) {
                            Text("Peer support", Modifier.weight(1f))
                            Button(onClick = { model.quickExit(this@SeekerActivity) }) { Text("Quick exit") }
                        }
                    },
                    bottomBar = { Text(EMERGENCY, Modifier.padding(8.dp)) }, // help on every screen
                ) { padding ->
                    Box(Modifier.padding(padding).fillMaxSize()) { Body(model) }
                }
            }
        }
    }
}

@Composable
private fun Body(model: SeekerModel) {
    when (val screen = model.screen) {
        Screen.Start -> Button(onClick = model::start) { Text("Talk to a peer") }
        is Screen.Waiting -> Text(
            if (screen.nobody) "No peer is available right now. You can keep waiting."
            else "You are number ${screen.position} in the queue."
        )
        is Screen.Chat -> Column {
            // The card was verified against the pinned program key inside the library.
            Text("✓ ${screen.peer.displayName} · ${screen.peer.role}")
            LazyColumn(Modifier.weight(1f)) {
                items(screen.lines) { (mine, text) -> Text(if (mine) "You: $text" else text) }
            }
            var draft by remember { mutableStateOf("") }
            Row {
                // No autocorrect learning from what is typed here.
                TextField(draft, { draft = it }, Modifier.weight(1f))
                Button(onClick = { model.send(draft); draft = "" }) { Text("Send") }
            }
        }
        is Screen.Ended -> Text(screen.why)
    }
}
