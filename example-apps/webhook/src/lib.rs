//! CI webhook: a CI service POSTs build events (JSON) to
//! `/apps/webhook/events` with the app's secret; each event is stored and
//! posted to a room as a rich message, in one handler call: the record and
//! the message are kept together or not at all. An event with an `id`
//! already stored is acknowledged and not posted twice, so a CI service
//! that retries never doubles a message. `/ci last` lists the latest
//! builds; `/ci status` fetches the service's status URL (outbound HTTP,
//! allowed hosts only).

use hangar_sdk::http::{self, HttpRequest, HttpResponse};
use hangar_sdk::{
    Association, Attachment, Command, Commands, Endpoints, Message, Modifier, Result, Writer, read,
};
use serde::{Deserialize, Serialize};

/// A build event as the CI service sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Build {
    /// The CI's own id for the event, if it sends one (deduplicates retries).
    #[serde(default)]
    id: Option<String>,
    pipeline: String,
    status: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    duration_s: Option<u64>,
}

struct Webhook;

fn all() -> [Association; 1] {
    [Association::misc("builds")]
}

fn keyed(id: &str) -> [Association; 2] {
    [
        Association::misc("builds"),
        Association::misc(format!("build:{id}")),
    ]
}

#[hangar_sdk::handlers]
impl Endpoints for Webhook {
    fn handle(request: &HttpRequest, writer: &Writer, modifier: &Modifier) -> Result<HttpResponse> {
        let build: Build = match request.json() {
            Ok(b) => b,
            Err(e) => {
                return Ok(HttpResponse::text(
                    400,
                    &format!("expected a build event: {e}"),
                ));
            }
        };
        let associations = match &build.id {
            Some(id) if !read::by_associations::<Build>(&keyed(id))?.is_empty() => {
                return HttpResponse::json(200, &hangar_sdk::serde_json::json!({"duplicate": id}));
            }
            Some(id) => keyed(id).to_vec(),
            None => all().to_vec(),
        };
        let stored = writer.create_with(&build, &associations)?;
        let room: String = read::setting("room")?;
        let passed = build.status == "passed";
        let mut attachment = Attachment::new()
            .title(&build.pipeline)
            .color(if passed { "#2eb67d" } else { "#e01e5a" })
            .field("Status", &build.status, true);
        if let Some(s) = build.duration_s {
            attachment = attachment.field("Duration", format!("{s} s"), true);
        }
        if let Some(url) = &build.url {
            attachment = attachment.title_link(url);
        }
        modifier.send(
            Message::new(&room)
                .text(format!("Build {} {}", build.pipeline, build.status))
                .attach(attachment),
        )?;
        HttpResponse::json(202, &hangar_sdk::serde_json::json!({"stored": stored}))
    }
}

#[hangar_sdk::handlers]
impl Commands for Webhook {
    fn execute(command: &Command, _writer: &Writer, modifier: &Modifier) -> Result<()> {
        let reply = match command.args.first().map(String::as_str) {
            Some("status") => {
                let url: String = read::setting("status-url")?;
                match http::get(&url) {
                    Ok(r) if r.is_success() => format!("CI status: {}", r.text()?.trim()),
                    Ok(r) => format!("CI status: {} answered {}", url, r.status),
                    Err(e) => format!("CI status: could not reach {url}: {e}"),
                }
            }
            Some("last") | None => {
                let builds = read::by_associations::<Build>(&all())?;
                let lines: Vec<String> = builds
                    .iter()
                    .rev()
                    .take(5)
                    .map(|b| format!("{} {}", b.data.pipeline, b.data.status))
                    .collect();
                if lines.is_empty() {
                    "no builds yet".to_string()
                } else {
                    lines.join("\n")
                }
            }
            Some(other) => format!("unknown '/ci {other}'; try /ci last or /ci status"),
        };
        modifier.send_message(&command.room, &reply)?;
        Ok(())
    }
}

hangar_sdk::export_app!(
    Webhook,
    manifest = "hangar.json",
    handles = [Endpoints, Commands]
);
