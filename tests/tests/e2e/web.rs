//! The web chat and operator page of `hangar serve`, in Debian's headless
//! Chromium driven over CDP: two people create a poll through its modal
//! (an invalid field shows the app's error and keeps it open), vote from
//! both pages, 50 votes from 10 simulated users arrive concurrently and
//! every open page shows the exact counts; forged interactions are
//! refused; the reminder and webhook apps post into the page live; the
//! operator page disables the poll app and the chat stops getting its
//! answers. Screenshots of both pages go to `target/screenshots/` (and to
//! `docs/screenshots/` with `HANGAR_UPDATE_SCREENSHOTS=1`).
//!
//! Without Chromium (`chromium` on the PATH, or `HANGAR_CHROMIUM`) the
//! test says loudly that it skipped; `.ci/run` installs it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hangar_tests::{Serve, guests, hangar_at};
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::{Value, json};

/// Where Chromium is, if anywhere.
fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("HANGAR_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
}

fn cli(dir: &Path, args: &[&str]) -> String {
    let out = hangar_at(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "hangar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How long any one thing may take to show on a page (a busy machine).
const PATIENCE: Duration = Duration::from_secs(60);

/// Evaluate `expr` in the page until it is truthy; its value.
fn wait_for(tab: &Tab, what: &str, expr: &str) -> Value {
    let start = Instant::now();
    loop {
        let got = tab
            .evaluate(expr, false)
            .ok()
            .and_then(|r| r.value)
            .unwrap_or(Value::Null);
        let truthy = match &got {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            Value::Number(n) => n.as_f64() != Some(0.0),
            _ => true,
        };
        if truthy {
            return got;
        }
        if start.elapsed() > PATIENCE {
            let body = tab
                .evaluate("document.body.innerText.slice(0, 3000)", false)
                .ok()
                .and_then(|r| r.value);
            panic!("waited {PATIENCE:?} for {what} ({expr}); the page shows: {body:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Run `js` in the page; its value.
fn eval(tab: &Tab, js: &str) -> Value {
    tab.evaluate(js, true)
        .unwrap_or_else(|e| panic!("evaluating {js}: {e}"))
        .value
        .unwrap_or(Value::Null)
}

/// A real mouse click on the element `selector` (waited for), in the
/// front tab (input goes to the tab in front).
fn click(tab: &Tab, selector: &str) {
    tab.activate().expect("bring the tab to the front");
    tab.wait_for_element_with_custom_timeout(selector, PATIENCE)
        .unwrap_or_else(|e| panic!("no {selector}: {e}"))
        .click()
        .unwrap_or_else(|e| panic!("clicking {selector}: {e}"));
}

/// The text of the message `id` as the page shows it.
fn shown_text(id: &str) -> String {
    format!(
        "(() => {{ const m = document.querySelector('.message[data-id=\"{id}\"] .text'); return m ? m.textContent : ''; }})()"
    )
}

/// Open the chat as `user` in `room`, once the first refresh rendered.
fn open_chat(browser: &Browser, serve: &Serve, user: &str) -> std::sync::Arc<Tab> {
    let tab = browser.new_tab().expect("a tab");
    tab.set_default_timeout(PATIENCE);
    tab.navigate_to(&serve.url(&format!("/?user={user}&room=general")))
        .expect("navigate");
    wait_for(
        &tab,
        &format!("{user}'s page"),
        &format!(
            "document.getElementById('me') && document.getElementById('me').textContent === '{user}' && document.body.dataset.seq"
        ),
    );
    tab
}

fn screenshot(tab: &Tab, name: &str) {
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("target").join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), &png).unwrap();
    if std::env::var_os("HANGAR_UPDATE_SCREENSHOTS").is_some() {
        let docs = root.join("docs").join("screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(name), &png).unwrap();
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build()
}

fn post(url: &str, body: &Value) -> (u16, Value) {
    match agent()
        .post(url)
        .set("content-type", "application/json")
        .send_string(&body.to_string())
    {
        Ok(r) | Err(ureq::Error::Status(_, r)) => (
            r.status(),
            serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or(Value::Null),
        ),
        Err(e) => panic!("POST {url}: {e}"),
    }
}

/// The poll's counts, read from the chat's API: what every page must show.
fn stored_text(serve: &Serve, id: &str) -> String {
    let history: Value = serde_json::from_str(
        &agent()
            .get(&serve.url("/api/rooms/general/messages?limit=200"))
            .call()
            .unwrap()
            .into_string()
            .unwrap(),
    )
    .unwrap();
    history
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .map(|m| m["text"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[test]
fn people_vote_on_a_poll_in_a_real_browser_and_the_operator_turns_it_off() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("HANGAR_REQUIRE_BROWSER").is_none(),
            "HANGAR_REQUIRE_BROWSER is set (as .ci/run sets it) and no Chromium was found"
        );
        eprintln!(
            "\n*** SKIPPED the web chat's browser test: no Chromium found (install Debian's `chromium`, or set HANGAR_CHROMIUM); `.ci/run` installs it ***\n"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for app in [guests::POLL, guests::REMINDER, guests::WEBHOOK] {
        cli(d, &["install", app]);
    }
    cli(d, &["settings", "webhook", "room", "general"]);
    let serve = Serve::start(d);
    let browser = Browser::new(
        LaunchOptions::default_builder()
            .path(Some(chromium))
            .headless(true)
            .sandbox(false)
            .window_size(Some((1280, 1000)))
            .idle_browser_timeout(Duration::from_secs(600))
            .build()
            .expect("launch options"),
    )
    .expect("start Chromium");
    let alice = open_chat(&browser, &serve, "alice");
    let bob = open_chat(&browser, &serve, "bob");

    // alice opens the form with /poll, typed and sent with Enter.
    click(&alice, "#composer");
    alice.type_str("/poll").unwrap().press_key("Enter").unwrap();
    wait_for(
        &alice,
        "the poll form",
        "!document.getElementById('modal').hidden && !!document.querySelector('#modal [data-block-id=\"question\"][data-action-id=\"text\"]')",
    );
    assert_eq!(
        eval(&bob, "document.getElementById('modal').hidden"),
        json!(true),
        "only alice sees her form"
    );
    click(
        &alice,
        "#modal [data-block-id=\"question\"][data-action-id=\"text\"]",
    );
    alice.type_str("Lunch?").unwrap();
    click(
        &alice,
        "#modal [data-block-id=\"options\"][data-action-id=\"text\"]",
    );
    alice.type_str("Pizza").unwrap();
    // One option: the app's error under it, and the modal stays open.
    click(&alice, "#modal-submit");
    let shown = wait_for(
        &alice,
        "the app's error under the options",
        "(() => { const e = document.querySelector('#modal .field-error[data-block-id=\"options\"]'); return e && !e.hidden && e.textContent; })()",
    );
    assert!(shown.as_str().unwrap().contains("at least two"), "{shown}");
    assert_eq!(
        eval(&alice, "document.getElementById('modal').hidden"),
        json!(false)
    );
    // Five options, several choices each.
    eval(
        &alice,
        "(() => { const t = document.querySelector('#modal [data-block-id=\"options\"][data-action-id=\"text\"]'); t.value = 'Pizza\\nSushi\\nTacos\\nCurry\\nSalad'; t.dispatchEvent(new Event('input', {bubbles: true})); const s = document.querySelector('#modal [data-block-id=\"mode\"][data-action-id=\"choice\"]'); s.value = 'multiple'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()",
    );
    click(&alice, "#modal-submit");
    wait_for(
        &alice,
        "the form to close",
        "document.getElementById('modal').hidden",
    );
    let find_poll = "(() => { const m = [...document.querySelectorAll('.message')].find(m => (m.querySelector('.text') || {}).textContent?.startsWith('Poll: Lunch?')); return m ? m.dataset.id : ''; })()";
    let poll = wait_for(&alice, "the poll on alice's page", find_poll)
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        wait_for(&bob, "the poll on bob's page", find_poll),
        json!(poll)
    );

    // Both vote with real clicks; both pages show both votes.
    let button = |option: usize| {
        format!(
            ".message[data-id=\"{poll}\"] [data-block-id=\"option-{option}\"][data-action-id=\"vote\"]"
        )
    };
    click(&alice, &button(0));
    click(&bob, &button(1));
    let two = "Poll: Lunch? | Pizza: 1 | Sushi: 1 | Tacos: 0 | Curry: 0 | Salad: 0";
    for (tab, who) in [(&alice, "alice"), (&bob, "bob")] {
        wait_for(
            tab,
            &format!("both votes on {who}'s page"),
            &format!("{} === '{two}'", shown_text(&poll)),
        );
    }

    // 10 more people, each voting for all five options, all at once: 50
    // concurrent votes through the same API the page uses.
    let users: Vec<String> = (0..10).map(|i| format!("user{i}")).collect();
    for u in &users {
        let (status, body) = post(&serve.url("/api/login"), &json!({ "user": u }));
        assert_eq!(status, 200, "{body}");
    }
    let url = serve.url("/api/interact");
    std::thread::scope(|s| {
        for u in &users {
            let (url, poll) = (&url, &poll);
            s.spawn(move || {
                for option in 0..5 {
                    let (status, body) = post(
                        url,
                        &json!({"type": "block-action", "user": u, "message": poll,
                                "block_id": format!("option-{option}"), "action_id": "vote"}),
                    );
                    assert_eq!(status, 200, "{body}");
                    assert_eq!(body["ok"], json!(true), "{body}");
                }
            });
        }
    });
    let all = "Poll: Lunch? | Pizza: 11 | Sushi: 11 | Tacos: 10 | Curry: 10 | Salad: 10";
    assert_eq!(stored_text(&serve, &poll), all, "every vote counted once");
    for (tab, who) in [(&alice, "alice"), (&bob, "bob")] {
        wait_for(
            tab,
            &format!("the 52 votes on {who}'s page"),
            &format!("{} === '{all}'", shown_text(&poll)),
        );
    }

    // Forged from the page: a value the button does not carry, alice's
    // own form submitted by bob, a view never opened, a message that is not
    // an app's. Refused; nothing moves.
    let forged = |body: Value| {
        eval(
            &bob,
            &format!(
                "fetch('/api/interact', {{method: 'POST', headers: {{'Content-Type': 'application/json'}}, body: JSON.stringify({body})}}).then(r => r.status)"
            ),
        )
    };
    assert_eq!(
        forged(
            json!({"type": "block-action", "user": "bob", "message": poll,
                      "block_id": "option-2", "action_id": "vote", "value": "0"})
        ),
        json!(403)
    );
    let (status, body) = post(
        &serve.url("/api/interact"),
        &json!({"type": "action-button", "user": "alice", "app": "poll",
                "button": "new-poll", "room": "general"}),
    );
    assert_eq!(status, 200, "{body}");
    let views: Value = serde_json::from_str(
        &agent()
            .get(&serve.url("/api/views?user=alice"))
            .call()
            .unwrap()
            .into_string()
            .unwrap(),
    )
    .unwrap();
    let alices = views[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        forged(json!({"type": "view-submit", "user": "bob", "view": alices, "state": []})),
        json!(403)
    );
    assert_eq!(
        forged(json!({"type": "view-submit", "user": "bob", "view": "v-not-opened", "state": []})),
        json!(403)
    );
    // A page on another site cannot post at all: no JSON content type.
    assert_eq!(
        eval(
            &bob,
            "fetch('/api/interact', {method: 'POST', body: '{}'}).then(r => r.status)"
        ),
        json!(415)
    );
    let (status, _) = post(
        &serve.url("/api/interact"),
        &json!({"type": "view-closed", "user": "alice", "view": alices}),
    );
    assert_eq!(status, 200);
    let (_, sent) = post(
        &serve.url("/api/send"),
        &json!({"room": "general", "user": "bob", "text": "plain words"}),
    );
    let plain = sent["message"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        forged(
            json!({"type": "block-action", "user": "bob", "message": plain, "action_id": "vote"})
        ),
        json!(403)
    );
    assert_eq!(stored_text(&serve, &poll), all, "nothing moved");

    // The reminder and webhook apps in the page, live.
    click(&alice, "#composer");
    alice
        .type_str("/remind me in 1 seconds to stretch")
        .unwrap()
        .press_key("Enter")
        .unwrap();
    wait_for(
        &alice,
        "the reminder, delivered by serve's job runner",
        "[...document.querySelectorAll('.message .text')].some(t => t.textContent === 'Reminder: stretch')",
    );
    let secret: Value = serde_json::from_str(&cli(d, &["endpoints", "webhook", "--json"])).unwrap();
    let hook = agent()
        .post(&serve.url("/apps/webhook/events"))
        .set("X-Hangar-Secret", secret["secret"].as_str().unwrap())
        .send_string(&json!({"pipeline": "deploy", "status": "passed"}).to_string());
    let hook_status = match hook {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r.status(),
        Err(e) => panic!("webhook: {e}"),
    };
    assert!(hook_status < 300, "webhook answered {hook_status}");
    wait_for(
        &bob,
        "the webhook's message on bob's page",
        "[...document.querySelectorAll('.message .text')].some(t => t.textContent.includes('Build deploy passed'))",
    );
    screenshot(&alice, "web-chat.png");

    // The operator page: a token is needed; with it, disable the poll app.
    let token = std::fs::read_to_string(d.join("operator-token")).unwrap();
    for header in [None, Some("Bearer nope"), Some("Bearer ")] {
        let mut r = agent().get(&serve.url("/api/operator/apps"));
        if let Some(h) = header {
            r = r.set("authorization", h);
        }
        let status = match r.call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r.status(),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(status, 401, "{header:?}");
    }
    let op = browser.new_tab().unwrap();
    op.set_default_timeout(PATIENCE);
    op.navigate_to(&serve.url("/operator")).unwrap();
    wait_for(
        &op,
        "the token form",
        "!!document.getElementById('token-input') && document.getElementById('token-input').offsetParent !== null",
    );
    op.navigate_to(&serve.url(&format!("/operator#token={}", token.trim())))
        .unwrap();
    wait_for(
        &op,
        "the apps table",
        "(() => { const s = document.querySelector('.app[data-app-id=\"poll\"] .status'); return s && s.textContent.includes('enabled'); })()",
    );
    // The webhook app's panels: its typed settings, records and live log.
    click(&op, ".app[data-app-id=\"webhook\"] .app-name");
    wait_for(
        &op,
        "the webhook's settings and its stored event",
        "!!document.querySelector('#settings [data-setting=\"room\"]') && document.getElementById('records').textContent.includes('deploy')",
    );
    screenshot(&op, "operator.png");
    // A value of the wrong type is refused, saying why, and changes nothing.
    let refused = eval(
        &op,
        &format!(
            "fetch('/api/operator/apps/webhook/settings/room', {{method: 'PUT', headers: {{'Authorization': 'Bearer {}'}}, body: JSON.stringify({{value: 42}})}}).then(async r => JSON.stringify([r.status, (await r.json()).error]))",
            token.trim()
        ),
    );
    let refused: Value = serde_json::from_str(refused.as_str().unwrap()).unwrap();
    assert_eq!(refused[0], json!(400), "{refused}");
    assert!(refused[1].as_str().unwrap().contains("string"), "{refused}");
    assert!(cli(d, &["settings", "webhook"]).contains("general"));
    click(&op, ".app[data-app-id=\"poll\"] button.toggle");
    wait_for(
        &op,
        "poll disabled",
        "(() => { const s = document.querySelector('.app[data-app-id=\"poll\"] .status'); return s && s.textContent.includes('disabled'); })()",
    );
    assert!(cli(d, &["list"]).contains("disabled"));
    // A vote now gets an error on the page and changes nothing.
    click(&alice, &button(2));
    let toast = wait_for(
        &alice,
        "the refusal as a toast",
        "(() => { const t = document.getElementById('toast'); return !t.hidden && t.textContent; })()",
    );
    assert!(toast.as_str().unwrap().contains("disabled"), "{toast}");
    let (status, _) = post(
        &serve.url("/api/command"),
        &json!({"room": "general", "user": "alice", "line": "/poll"}),
    );
    assert_eq!(status, 400, "the command is gone with its app");
    assert_eq!(stored_text(&serve, &poll), all);
    assert_eq!(
        eval(&alice, "document.getElementById('modal').hidden"),
        json!(true)
    );
    // SIGTERM with three pages' live streams open: serve ends them and
    // exits 0 (within Serve::stop's minute).
    assert!(serve.stop().success());
    drop(browser);
}
