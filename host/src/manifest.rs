//! The app manifest: plain serde data embedded by the SDK in the component's
//! `hangar:manifest` custom section, validated with errors naming the field.

use serde::{Deserialize, Serialize};

use crate::bridge::EventKind;
use crate::error::{Error, Result};

/// The newest WIT API version this host implements.
pub const API_VERSION: &str = "0.2.0";

/// Every API version this host runs: packages built for any of them load.
pub const SUPPORTED_API_VERSIONS: [&str; 2] = ["0.1.0", "0.2.0"];

/// Name of the custom section that carries the manifest JSON.
pub const MANIFEST_SECTION: &str = "hangar:manifest";

/// Name of the custom section where the SDK records the API version and the
/// handlers the app implements.
pub const EXPORTS_SECTION: &str = "hangar:exports";

/// What an app says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// Unique id: lower-case letters, digits and `-`, 1 to 64 characters.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// The app's own version (semver).
    pub version: String,
    /// The `hangar:app` WIT version it was built against (written by the
    /// SDK into the package's `hangar:exports` section; a manifest may
    /// repeat it).
    #[serde(default)]
    pub api_version: String,
    /// One line about the app.
    #[serde(default)]
    pub description: String,
    /// What the app may do; nothing is granted that is not listed.
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// The events it handles; it is never instantiated for others (derived
    /// from the handlers the SDK recorded; a manifest may repeat them).
    #[serde(default)]
    pub events: Vec<Event>,
    /// Slash commands it provides.
    #[serde(default)]
    pub commands: Vec<CommandSpec>,
    /// Settings the operator can change.
    #[serde(default)]
    pub settings: Vec<SettingSpec>,
    /// HTTP endpoints it serves under `/apps/<id>/` (permission `api`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<EndpointSpec>,
    /// Where its outbound requests may go (permission `networking`):
    /// `https://api.github.com`, `https://*.example.org`,
    /// `http://127.0.0.1:8080` (`:*` for any port).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// The job processors it provides (permission `scheduler`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processors: Vec<ProcessorSpec>,
    /// Buttons the chat shows on messages, rooms and the message box
    /// (permission `ui.registerButtons`); a click is an interaction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub action_buttons: Vec<ActionButtonSpec>,
}

/// Where an action button shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ButtonContext {
    /// In each message's menu.
    MessageAction,
    /// In the room's header.
    RoomAction,
    /// Beside the message box.
    MessageBoxAction,
}

/// An action button an app declares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ActionButtonSpec {
    /// Its id, handed to the app with each click.
    pub id: String,
    /// The label.
    pub label: String,
    /// Where it shows.
    pub context: ButtonContext,
}

/// A job processor an app provides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProcessorSpec {
    /// Its id, named by the jobs it runs.
    pub id: String,
    /// A job scheduled when the app is installed or updated (once, with
    /// the id `startup:<processor>`; a restart never adds another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<StartupJob>,
}

/// A processor's startup job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StartupJob {
    /// First run after this delay (default 0).
    #[serde(default)]
    pub delay_ms: u64,
    /// Then every so many ms (at least 1000)...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_ms: Option<u64>,
    /// ...or on this cron schedule (UTC); neither: once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Its data (JSON).
    #[serde(default)]
    pub data: serde_json::Value,
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointAuth {
    /// Callers must present the app's per-install secret (header
    /// `X-Hangar-Secret`, or `?secret=`); `hangar endpoints` shows and
    /// rotates it.
    #[default]
    Secret,
    /// Anyone who can reach the server.
    Public,
}

/// An HTTP endpoint an app serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EndpointSpec {
    /// Its path below `/apps/<id>`, such as `/events`; a last segment `*`
    /// matches any rest (`/hooks/*`).
    pub path: String,
    /// The methods it answers (default `["POST"]`).
    #[serde(default = "default_methods")]
    pub methods: Vec<String>,
    /// Who may call it (default `secret`).
    #[serde(default)]
    pub auth: EndpointAuth,
    /// What it is for.
    #[serde(default)]
    pub description: String,
}

fn default_methods() -> Vec<String> {
    vec!["POST".into()]
}

impl EndpointSpec {
    /// Whether it serves `path` (below the app's mount point).
    pub fn matches_path(&self, path: &str) -> bool {
        match self.path.strip_suffix("/*") {
            Some("") => true,
            Some(prefix) => path == prefix || path.starts_with(&format!("{prefix}/")),
            None => path == self.path,
        }
    }
}

/// A capability an app asks for in its manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// Read and write its own records.
    #[serde(rename = "persistence")]
    Persistence,
    /// Read messages.
    #[serde(rename = "message.read")]
    MessageRead,
    /// Send messages and notifications.
    #[serde(rename = "message.write")]
    MessageWrite,
    /// Read rooms.
    #[serde(rename = "room.read")]
    RoomRead,
    /// Read users.
    #[serde(rename = "user.read")]
    UserRead,
    /// Provide slash commands.
    #[serde(rename = "slashcommand")]
    SlashCommand,
    /// Read its settings.
    #[serde(rename = "settings")]
    Settings,
    /// Veto, extend or rewrite messages before they are sent (the
    /// pre-message events).
    #[serde(rename = "message.intercept")]
    MessageIntercept,
    /// Edit and delete messages the app did not send (its own need only
    /// `message.write`).
    #[serde(rename = "message.update")]
    MessageUpdate,
    /// Create rooms and direct rooms; prevent room and membership events.
    #[serde(rename = "room.write")]
    RoomWrite,
    /// Read the chat server's settings.
    #[serde(rename = "server-setting.read")]
    ServerSettingRead,
    /// Make outbound HTTP requests (to `allowed-hosts` only).
    #[serde(rename = "networking")]
    Networking,
    /// Serve HTTP endpoints.
    #[serde(rename = "api")]
    Api,
    /// Schedule and run jobs.
    #[serde(rename = "scheduler")]
    Scheduler,
    /// Handle interactions and open views (modals, contextual bars).
    #[serde(rename = "ui.interact")]
    UiInteract,
    /// Declare action buttons.
    #[serde(rename = "ui.registerButtons")]
    UiRegisterButtons,
}

impl Permission {
    /// The name used in manifests and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Permission::Persistence => "persistence",
            Permission::MessageRead => "message.read",
            Permission::MessageWrite => "message.write",
            Permission::RoomRead => "room.read",
            Permission::UserRead => "user.read",
            Permission::SlashCommand => "slashcommand",
            Permission::Settings => "settings",
            Permission::MessageIntercept => "message.intercept",
            Permission::MessageUpdate => "message.update",
            Permission::RoomWrite => "room.write",
            Permission::ServerSettingRead => "server-setting.read",
            Permission::Networking => "networking",
            Permission::Api => "api",
            Permission::Scheduler => "scheduler",
            Permission::UiInteract => "ui.interact",
            Permission::UiRegisterButtons => "ui.registerButtons",
        }
    }
}

/// An event an app can handle; one per exported handler (the chat events
/// of API 0.2 have one per kind and stage: `pre-<kind>-prevent`,
/// `post-<kind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// Lifecycle hooks (install, uninstall, update, enable, disable).
    Lifecycle,
    /// `check-pre-message-sent-prevent`.
    CheckPreMessageSentPrevent,
    /// `execute-pre-message-sent-prevent`.
    PreMessageSentPrevent,
    /// `execute-pre-message-sent-extend`.
    PreMessageSentExtend,
    /// `execute-pre-message-sent-modify`.
    PreMessageSentModify,
    /// `check-post-message-sent` (API 0.2).
    CheckPostMessageSent,
    /// `execute-post-message-sent`.
    PostMessageSent,
    /// `preview-command` for its slash commands.
    CommandPreview,
    /// `execute-preview-item`: the user picked a preview item (API 0.2).
    CommandPreviewItem,
    /// `on-pre-setting-update` and `on-setting-updated`.
    Settings,
    /// `check-pre-event`: a read-only filter before its prevent handlers.
    CheckPreEvent,
    /// `check-post-event`: a read-only filter before its post handlers.
    CheckPostEvent,
    /// `handle-request`: requests to its HTTP endpoints (API 0.2).
    HttpRequest,
    /// `run-job`: its scheduled jobs (API 0.2).
    Job,
    /// `execute-block-action`: clicks and choices on its blocks (API 0.2).
    BlockAction,
    /// `execute-view-submit`: its views submitted (API 0.2).
    ViewSubmit,
    /// `execute-view-closed`: its views closed (API 0.2).
    ViewClosed,
    /// `execute-action-button`: its action buttons clicked (API 0.2).
    ActionButton,
    /// Prevent a chat event of this kind before it takes effect.
    Pre(EventKind),
    /// After a chat event of this kind.
    Post(EventKind),
}

impl Event {
    /// Every event, in manifest order.
    pub fn all() -> Vec<Event> {
        let mut all = vec![
            Event::Lifecycle,
            Event::CheckPreMessageSentPrevent,
            Event::PreMessageSentPrevent,
            Event::PreMessageSentExtend,
            Event::PreMessageSentModify,
            Event::CheckPostMessageSent,
            Event::PostMessageSent,
            Event::CommandPreview,
            Event::CommandPreviewItem,
            Event::Settings,
            Event::CheckPreEvent,
            Event::CheckPostEvent,
            Event::HttpRequest,
            Event::Job,
            Event::BlockAction,
            Event::ViewSubmit,
            Event::ViewClosed,
            Event::ActionButton,
        ];
        all.extend(
            EventKind::ALL
                .into_iter()
                .filter(|k| k.preventable())
                .map(Event::Pre),
        );
        all.extend(EventKind::ALL.into_iter().map(Event::Post));
        all
    }

    /// The permission receiving this event amounts to: every message for
    /// post-message-sent, intercepting every message for the pre-message
    /// events, reading rooms for room events, and so on.
    pub fn power(self) -> Option<Permission> {
        use EventKind as K;
        match self {
            Event::PostMessageSent | Event::CheckPostMessageSent => Some(Permission::MessageRead),
            Event::CheckPreMessageSentPrevent
            | Event::PreMessageSentPrevent
            | Event::PreMessageSentExtend
            | Event::PreMessageSentModify => Some(Permission::MessageIntercept),
            Event::Pre(K::MessageUpdated | K::MessageDeleted) => Some(Permission::MessageIntercept),
            Event::Pre(_) => Some(Permission::RoomWrite),
            Event::Post(K::MessageUpdated | K::MessageDeleted | K::MessageReacted) => {
                Some(Permission::MessageRead)
            }
            Event::Post(K::RoomCreated | K::RoomDeleted | K::UserJoined | K::UserLeft) => {
                Some(Permission::RoomRead)
            }
            Event::Post(K::UserCreated | K::UserUpdated | K::UserLoggedIn) => {
                Some(Permission::UserRead)
            }
            Event::Lifecycle
            | Event::CommandPreview
            | Event::CommandPreviewItem
            | Event::Settings
            | Event::CheckPreEvent
            | Event::CheckPostEvent => None,
            Event::HttpRequest => Some(Permission::Api),
            Event::Job => Some(Permission::Scheduler),
            Event::BlockAction | Event::ViewSubmit | Event::ViewClosed | Event::ActionButton => {
                Some(Permission::UiInteract)
            }
        }
    }

    /// The name used in manifests.
    pub fn name(self) -> &'static str {
        use EventKind as K;
        match self {
            Event::Lifecycle => "lifecycle",
            Event::CheckPreMessageSentPrevent => "check-pre-message-sent-prevent",
            Event::PreMessageSentPrevent => "pre-message-sent-prevent",
            Event::PreMessageSentExtend => "pre-message-sent-extend",
            Event::PreMessageSentModify => "pre-message-sent-modify",
            Event::CheckPostMessageSent => "check-post-message-sent",
            Event::PostMessageSent => "post-message-sent",
            Event::CommandPreview => "command-preview",
            Event::CommandPreviewItem => "command-preview-item",
            Event::Settings => "settings",
            Event::CheckPreEvent => "check-pre-event",
            Event::CheckPostEvent => "check-post-event",
            Event::HttpRequest => "http-request",
            Event::Job => "job",
            Event::BlockAction => "block-action",
            Event::ViewSubmit => "view-submit",
            Event::ViewClosed => "view-closed",
            Event::ActionButton => "action-button",
            Event::Pre(k) => match k {
                K::MessageUpdated => "pre-message-updated-prevent",
                K::MessageDeleted => "pre-message-deleted-prevent",
                K::MessageReacted => "pre-message-reacted-prevent",
                K::RoomCreated => "pre-room-created-prevent",
                K::RoomDeleted => "pre-room-deleted-prevent",
                K::UserJoined => "pre-room-user-joined-prevent",
                K::UserLeft => "pre-room-user-left-prevent",
                K::UserCreated => "pre-user-created-prevent",
                K::UserUpdated => "pre-user-updated-prevent",
                K::UserLoggedIn => "pre-user-logged-in-prevent",
            },
            Event::Post(k) => match k {
                K::MessageUpdated => "post-message-updated",
                K::MessageDeleted => "post-message-deleted",
                K::MessageReacted => "post-message-reacted",
                K::RoomCreated => "post-room-created",
                K::RoomDeleted => "post-room-deleted",
                K::UserJoined => "post-room-user-joined",
                K::UserLeft => "post-room-user-left",
                K::UserCreated => "post-user-created",
                K::UserUpdated => "post-user-updated",
                K::UserLoggedIn => "post-user-logged-in",
            },
        }
    }

    /// Whether API 0.1 has it (the rest came with 0.2).
    pub fn in_api_0_1(self) -> bool {
        matches!(
            self,
            Event::Lifecycle
                | Event::CheckPreMessageSentPrevent
                | Event::PreMessageSentPrevent
                | Event::PreMessageSentExtend
                | Event::PreMessageSentModify
                | Event::PostMessageSent
                | Event::CommandPreview
                | Event::Settings
        )
    }

    /// The event named `name` in a manifest.
    pub fn parse(name: &str) -> Option<Event> {
        Event::all().into_iter().find(|e| e.name() == name)
    }
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Event::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown event '{}'; docs/manifest.md lists the events",
                name.chars().take(64).collect::<String>()
            ))
        })
    }
}

/// A slash command an app provides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CommandSpec {
    /// The command without its slash.
    pub command: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// Arguments, for help text.
    #[serde(default)]
    pub usage: String,
}

/// The kind of value a setting holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SettingType {
    /// `true` / `false`.
    Bool,
    /// A whole number.
    Int,
    /// Text.
    String,
    /// One of `values`.
    Select,
    /// Several of `values`.
    MultiSelect,
    /// A list of free-form strings.
    StringList,
}

/// A setting the operator can change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SettingSpec {
    /// Setting id.
    pub id: String,
    /// Value type.
    #[serde(rename = "type")]
    pub kind: SettingType,
    /// Default value (JSON of the type).
    pub default: serde_json::Value,
    /// Allowed values for select and multi-select.
    #[serde(default)]
    pub values: Vec<String>,
    /// Whether a value must be set.
    #[serde(default)]
    pub required: bool,
    /// Help text.
    #[serde(default)]
    pub description: String,
}

impl SettingSpec {
    /// Check that `value` fits this setting's type.
    pub fn check(&self, value: &serde_json::Value) -> Result<()> {
        use serde_json::Value;
        let bad = |want: &str| {
            Err(Error::InvalidInput(format!(
                "setting '{}' takes {want}, not {value}",
                self.id
            )))
        };
        match (self.kind, value) {
            (SettingType::Bool, Value::Bool(_)) => Ok(()),
            (SettingType::Int, Value::Number(n)) if n.is_i64() => Ok(()),
            (SettingType::String, Value::String(_)) => Ok(()),
            (SettingType::Select, Value::String(s)) if self.values.contains(s) => Ok(()),
            (SettingType::Select, _) => bad(&format!("one of {:?}", self.values)),
            (SettingType::MultiSelect, Value::Array(items))
                if items.iter().all(|i| {
                    i.as_str()
                        .is_some_and(|s| self.values.iter().any(|v| v == s))
                }) =>
            {
                Ok(())
            }
            (SettingType::MultiSelect, _) => bad(&format!("a list drawn from {:?}", self.values)),
            (SettingType::StringList, Value::Array(items))
                if items.iter().all(Value::is_string) =>
            {
                Ok(())
            }
            (SettingType::Bool, _) => bad("true or false"),
            (SettingType::Int, _) => bad("a whole number"),
            (SettingType::String, _) => bad("a string"),
            (SettingType::StringList, _) => bad("a list of strings"),
        }
    }
}

impl Manifest {
    /// Parse and validate manifest JSON.
    pub fn parse(json: &[u8]) -> Result<Manifest> {
        let manifest: Manifest =
            serde_json::from_slice(json).map_err(|e| Error::InvalidManifest(format!("{e}")))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Whether the app handles `event`.
    pub fn handles(&self, event: Event) -> bool {
        self.events.contains(&event)
    }

    /// Whether the manifest grants `permission`.
    pub fn grants(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission) || self.implied_permissions().contains(&permission)
    }

    /// Permissions an API 0.1 app holds because of the events it handles
    /// without asking for them (from API 0.2 on they must be asked for;
    /// `install` and `info` show them).
    pub fn implied_permissions(&self) -> Vec<Permission> {
        let mut implied = Vec::new();
        for p in self.events.iter().filter_map(|e| e.power()) {
            if !self.permissions.contains(&p) && !implied.contains(&p) {
                implied.push(p);
            }
        }
        implied
    }

    /// The spec of setting `id`.
    pub fn setting(&self, id: &str) -> Option<&SettingSpec> {
        self.settings.iter().find(|s| s.id == id)
    }

    /// Check every field, naming the first one that is wrong. Linear in
    /// the manifest's size; every list and string is bounded, since the
    /// registry keeps the manifest and every process loads it.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, why: String| Err(Error::InvalidManifest(format!("{field}: {why}")));
        validate_app_id(&self.id).or_else(|e| bad("id", e))?;
        if self.name.trim().is_empty() || self.name.len() > 100 {
            return bad("name", "must be 1 to 100 bytes".into());
        }
        if self.version.len() > 64 || !is_semver(&self.version) {
            return bad(
                "version",
                format!("'{}' is not a version like 1.2.3", self.version),
            );
        }
        check_api_version(&self.api_version).or_else(|e| bad("api-version", e))?;
        if events_need_asking(&self.api_version)
            && let Some(p) = self.implied_permissions().first()
        {
            return bad(
                "permissions",
                format!(
                    "the app's events need \"{}\"; from API 0.2 on, add it to the permissions",
                    p.name()
                ),
            );
        }
        if !events_need_asking(&self.api_version)
            && let Some(e) = self.events.iter().find(|e| !e.in_api_0_1())
        {
            return bad(
                "events",
                format!(
                    "'{}' needs API 0.2; rebuild the app with a hangar-sdk for API {API_VERSION}",
                    e.name()
                ),
            );
        }
        check_text("description", &self.description, MAX_DESCRIPTION)?;
        check_count("permissions", self.permissions.len(), 32)?;
        check_count("events", self.events.len(), 32)?;
        self.validate_commands()?;
        self.validate_endpoints()?;
        self.validate_settings()
    }

    fn validate_commands(&self) -> Result<()> {
        let bad = |field: &str, why: String| Err(Error::InvalidManifest(format!("{field}: {why}")));
        check_count("commands", self.commands.len(), MAX_COMMANDS)?;
        let mut seen = std::collections::HashSet::new();
        for (i, command) in self.commands.iter().enumerate() {
            let c = &command.command;
            if c.is_empty()
                || c.len() > 32
                || !c
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            {
                return bad(
                    &format!("commands[{i}].command"),
                    format!("'{c}' must be 1 to 32 letters, digits, '-' or '_', without '/'"),
                );
            }
            if !seen.insert(c.as_str()) {
                return bad(
                    &format!("commands[{i}].command"),
                    format!("'{c}' is declared twice"),
                );
            }
            check_text(
                &format!("commands[{i}].description"),
                &command.description,
                256,
            )?;
            check_text(&format!("commands[{i}].usage"), &command.usage, 256)?;
        }
        if !self.commands.is_empty() && !self.grants(Permission::SlashCommand) {
            return bad(
                "permissions",
                "an app with commands must ask for \"slashcommand\"".into(),
            );
        }
        Ok(())
    }

    fn validate_endpoints(&self) -> Result<()> {
        let bad = |field: &str, why: String| Err(Error::InvalidManifest(format!("{field}: {why}")));
        check_count("endpoints", self.endpoints.len(), MAX_ENDPOINTS)?;
        for (i, e) in self.endpoints.iter().enumerate() {
            let path = e.path.strip_suffix("/*").unwrap_or(&e.path);
            let segment_ok = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                    && s != "."
                    && s != ".."
            };
            let root = e.path == "/" || e.path == "/*";
            if !root
                && (!path.starts_with('/')
                    || path.len() > 200
                    || !path[1..].split('/').all(segment_ok))
            {
                return bad(
                    &format!("endpoints[{i}].path"),
                    format!(
                        "'{}' must start with '/' and hold segments of letters, digits, '-', '_' or '.' (a last '/*' matches any rest)",
                        e.path
                    ),
                );
            }
            check_count(&format!("endpoints[{i}].methods"), e.methods.len(), 8)?;
            if e.methods.is_empty() {
                return bad(
                    &format!("endpoints[{i}].methods"),
                    "an endpoint answers at least one method".into(),
                );
            }
            if self.endpoints[..i].iter().any(|o| o.path == e.path) {
                return bad(
                    &format!("endpoints[{i}].path"),
                    format!("'{}' is declared twice", e.path),
                );
            }
            if let Some(m) = e.methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
                return bad(
                    &format!("endpoints[{i}].methods"),
                    format!("'{m}' is not one of {}", METHODS.join(", ")),
                );
            }
            check_text(&format!("endpoints[{i}].description"), &e.description, 256)?;
        }
        if !self.endpoints.is_empty() && !self.grants(Permission::Api) {
            return bad(
                "permissions",
                "an app with endpoints must ask for \"api\"".into(),
            );
        }
        check_count("processors", self.processors.len(), 32)?;
        for (i, p) in self.processors.iter().enumerate() {
            if p.id.is_empty()
                || p.id.len() > 64
                || !p
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return bad(
                    &format!("processors[{i}].id"),
                    format!(
                        "'{}' must be 1 to 64 letters, digits, '-', '_' or '.'",
                        p.id
                    ),
                );
            }
            if self.processors[..i].iter().any(|o| o.id == p.id) {
                return bad(
                    &format!("processors[{i}].id"),
                    format!("'{}' is declared twice", p.id),
                );
            }
            if let Some(expr) = p.startup.as_ref().and_then(|s| s.cron.as_deref())
                && let Err(why) = crate::storage::parse_cron(expr)
            {
                return bad(&format!("processors[{i}].startup.cron"), why);
            }
            if let Some(s) = &p.startup
                && s.every_ms.is_some_and(|e| e < 1000)
            {
                return bad(
                    &format!("processors[{i}].startup.every-ms"),
                    "a recurring job runs at most once a second: at least 1000".into(),
                );
            }
        }
        if !self.processors.is_empty() && !self.grants(Permission::Scheduler) {
            return bad(
                "permissions",
                "an app with processors must ask for \"scheduler\"".into(),
            );
        }
        check_count("action-buttons", self.action_buttons.len(), 16)?;
        for (i, b) in self.action_buttons.iter().enumerate() {
            if b.id.is_empty()
                || b.id.len() > 64
                || !b
                    .id
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
            {
                return bad(
                    &format!("action-buttons[{i}].id"),
                    format!(
                        "'{}' must be 1 to 64 letters, digits, '-', '_' or '.'",
                        b.id
                    ),
                );
            }
            if self.action_buttons[..i].iter().any(|o| o.id == b.id) {
                return bad(
                    &format!("action-buttons[{i}].id"),
                    format!("'{}' is declared twice", b.id),
                );
            }
            if b.label.trim().is_empty() {
                return bad(
                    &format!("action-buttons[{i}].label"),
                    "a button needs a label".into(),
                );
            }
            check_text(&format!("action-buttons[{i}].label"), &b.label, 64)?;
        }
        if !self.action_buttons.is_empty() && !self.grants(Permission::UiRegisterButtons) {
            return bad(
                "permissions",
                "an app with action-buttons must ask for \"ui.registerButtons\"".into(),
            );
        }
        check_count("allowed-hosts", self.allowed_hosts.len(), 32)?;
        for (i, h) in self.allowed_hosts.iter().enumerate() {
            crate::outbound::HostPattern::parse(h)
                .map_err(|why| Error::InvalidManifest(format!("allowed-hosts[{i}]: {why}")))?;
        }
        if !self.allowed_hosts.is_empty() && !self.grants(Permission::Networking) {
            return bad(
                "permissions",
                "an app with allowed-hosts must ask for \"networking\"".into(),
            );
        }
        Ok(())
    }

    fn validate_settings(&self) -> Result<()> {
        let bad = |field: &str, why: String| Err(Error::InvalidManifest(format!("{field}: {why}")));
        check_count("settings", self.settings.len(), MAX_SETTINGS)?;
        let mut seen = std::collections::HashSet::new();
        for (i, setting) in self.settings.iter().enumerate() {
            if setting.id.is_empty() || setting.id.len() > 64 || !seen.insert(setting.id.as_str()) {
                return bad(
                    &format!("settings[{i}].id"),
                    format!("'{}' must be 1 to 64 bytes and unique", setting.id),
                );
            }
            check_text(
                &format!("settings[{i}].description"),
                &setting.description,
                MAX_DESCRIPTION,
            )?;
            check_count(&format!("settings[{i}].values"), setting.values.len(), 256)?;
            if let Some(v) = setting.values.iter().find(|v| v.len() > 256) {
                return bad(
                    &format!("settings[{i}].values"),
                    format!("'{v}' is over 256 bytes"),
                );
            }
            if setting.default.to_string().len() > 4096 {
                return bad(
                    &format!("settings[{i}].default"),
                    "is over 4096 bytes".into(),
                );
            }
            setting
                .check(&setting.default)
                .or_else(|e| bad(&format!("settings[{i}].default"), e.to_string()))?;
        }
        if !self.settings.is_empty() && !self.grants(Permission::Settings) {
            return bad(
                "permissions",
                "an app with settings must ask for \"settings\" (it could not read them otherwise)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Whether apps built for `api_version` must ask for the permissions their
/// events amount to (0.2 and later); 0.1 apps have them implied.
fn events_need_asking(api_version: &str) -> bool {
    let mut parts = api_version
        .split('.')
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    major > 0 || minor >= 2
}

/// Longest description (of the app, or of a setting).
const MAX_DESCRIPTION: usize = 1024;
/// Most slash commands one app declares.
const MAX_COMMANDS: usize = 64;
/// Most settings one app declares.
const MAX_SETTINGS: usize = 128;
/// Most endpoints one app declares.
const MAX_ENDPOINTS: usize = 32;
/// The methods an endpoint may answer.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn check_text(field: &str, text: &str, max: usize) -> Result<()> {
    if text.len() > max {
        return Err(Error::InvalidManifest(format!(
            "{field}: {} bytes is over the limit of {max}",
            text.len()
        )));
    }
    Ok(())
}

fn check_count(field: &str, n: usize, max: usize) -> Result<()> {
    if n > max {
        return Err(Error::InvalidManifest(format!(
            "{field}: {n} entries is over the limit of {max}"
        )));
    }
    Ok(())
}

/// Check an app id: it names files, so it must be a safe path segment.
pub fn validate_app_id(id: &str) -> std::result::Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{}' must be 1 to 64 lower-case letters, digits or '-', not starting with '-'",
            id.escape_debug()
        ))
    }
}

/// Compare two versions like 1.2.3 by their numbers (pre-release and
/// build parts ignored).
pub(crate) fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let numbers = |v: &str| -> Vec<u64> {
        v.split(['-', '+'])
            .next()
            .unwrap_or("")
            .split('.')
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    numbers(a).cmp(&numbers(b))
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether an app built against `wanted` can run on this host: same major,
/// and for 0.x the same minor, with a minor no newer than ours.
pub fn check_api_version(wanted: &str) -> std::result::Result<(), String> {
    let parse = |v: &str| -> Option<(u64, u64)> {
        if !is_semver(v) {
            return None;
        }
        let mut it = v.split('.');
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    if wanted.is_empty() {
        return Err(format!(
            "missing; apps built with hangar-sdk carry it in their '{EXPORTS_SECTION}' section, a package made by hand must set it (e.g. \"{API_VERSION}\")"
        ));
    }
    let Some(theirs) = parse(wanted) else {
        return Err(format!("'{wanted}' is not a version like {API_VERSION}"));
    };
    let compatible = SUPPORTED_API_VERSIONS.iter().any(|v| {
        let ours = parse(v).expect("own API versions parse");
        if ours.0 == 0 {
            theirs == ours
        } else {
            theirs.0 == ours.0 && theirs.1 <= ours.1
        }
    });
    if compatible {
        Ok(())
    } else {
        Err(format!(
            "the app was built against hangar:app API {wanted}, but this host implements {}; rebuild the app with a hangar-sdk for API {API_VERSION}",
            SUPPORTED_API_VERSIONS.join(" and ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> serde_json::Value {
        serde_json::json!({
            "id": "karma", "name": "Karma", "version": "0.1.0", "api-version": "0.1.0",
            "permissions": ["persistence", "slashcommand", "settings"],
            "events": ["post-message-sent"],
            "commands": [{"command": "karma"}],
            "settings": [{"id": "mode", "type": "select", "values": ["a", "b"], "default": "a"}]
        })
    }

    #[test]
    fn parses_a_good_manifest() {
        let m = Manifest::parse(sample().to_string().as_bytes()).unwrap();
        assert_eq!(m.id, "karma");
        assert!(m.handles(Event::PostMessageSent));
        assert!(m.grants(Permission::Persistence));
        assert!(!m.grants(Permission::MessageWrite));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("id", serde_json::json!("../x")),
            ("id", serde_json::json!("a/b")),
            ("id", serde_json::json!("nul\u{0}")),
            ("version", serde_json::json!("one")),
            ("api-version", serde_json::json!("9.0.0")),
        ];
        for (field, value) in cases {
            let mut m = sample();
            m[field] = value;
            let err = Manifest::parse(m.to_string().as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{err}");
        }
        let mut m = sample();
        m["settings"][0]["default"] = serde_json::json!("c");
        let err = Manifest::parse(m.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("settings[0].default"), "{err}");
        let mut m = sample();
        m["surprise"] = serde_json::json!(1);
        let err = Manifest::parse(m.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("surprise"), "{err}");
    }

    #[test]
    fn lists_and_strings_are_bounded_and_checked_in_linear_time() {
        let mut m = sample();
        m["commands"] = (0..100_000)
            .map(|i| serde_json::json!({"command": format!("c{i}")}))
            .collect();
        let err = Manifest::parse(m.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("commands") && err.contains("limit of 64"),
            "{err}"
        );
        let mut m = sample();
        m["description"] = serde_json::json!("d".repeat(30 << 20));
        let err = Manifest::parse(m.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("description"),
            "{}",
            &err[..200.min(err.len())]
        );
        let mut m = sample();
        m["commands"] = serde_json::json!([{"command": "a"}, {"command": "b"}, {"command": "a"}]);
        let err = Manifest::parse(m.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("commands[2].command") && err.contains("twice"),
            "{err}"
        );
    }

    #[test]
    fn settings_need_the_settings_permission() {
        let mut m = sample();
        m["permissions"] = serde_json::json!(["persistence", "slashcommand"]);
        let err = Manifest::parse(m.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"settings\""), "{err}");
    }

    #[test]
    fn events_imply_their_powers_for_api_0_1_only() {
        let mut m = Manifest::parse(sample().to_string().as_bytes()).unwrap();
        assert_eq!(m.implied_permissions(), vec![Permission::MessageRead]);
        assert!(m.grants(Permission::MessageRead));
        m.events.push(Event::PreMessageSentModify);
        assert_eq!(
            m.implied_permissions(),
            vec![Permission::MessageRead, Permission::MessageIntercept]
        );
        assert!(!events_need_asking("0.1.0"));
        assert!(events_need_asking("0.2.0") && events_need_asking("1.0.0"));
    }

    #[test]
    fn api_version_compatibility() {
        assert!(check_api_version("0.1.0").is_ok());
        assert!(check_api_version("0.2.0").is_ok());
        let err = check_api_version("0.3.0").unwrap_err();
        assert!(err.contains("0.3.0") && err.contains(API_VERSION), "{err}");
    }
}

#[cfg(test)]
mod endpoint_tests {
    use super::*;

    fn with_endpoints(endpoints: serde_json::Value) -> Result<Manifest> {
        Manifest::parse(
            serde_json::json!({
                "id": "hook", "name": "Hook", "version": "0.1.0", "api-version": "0.2.0",
                "permissions": ["api"], "events": ["http-request"], "endpoints": endpoints
            })
            .to_string()
            .as_bytes(),
        )
    }

    #[test]
    fn endpoint_paths_methods_and_duplicates_are_checked() {
        let root = with_endpoints(serde_json::json!([{"path": "/"}]));
        assert!(root.is_ok(), "{root:?}");
        assert!(with_endpoints(serde_json::json!([{"path": "/hooks/*"}])).is_ok());
        for (bad, why) in [
            (serde_json::json!([{"path": "/a/../b"}]), "segments"),
            (serde_json::json!([{"path": "no-slash"}]), "start with '/'"),
            (
                serde_json::json!([{"path": "/a", "methods": []}]),
                "at least one method",
            ),
            (
                serde_json::json!([{"path": "/a", "methods": ["BREW"]}]),
                "not one of",
            ),
            (
                serde_json::json!([{"path": "/a"}, {"path": "/a"}]),
                "declared twice",
            ),
        ] {
            let e = with_endpoints(bad.clone()).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let spec = |p: &str| EndpointSpec {
            path: p.into(),
            methods: default_methods(),
            auth: EndpointAuth::Secret,
            description: String::new(),
        };
        assert!(spec("/hooks/*").matches_path("/hooks/github/push"));
        assert!(!spec("/hooks/*").matches_path("/hooksx"));
        assert!(spec("/*").matches_path("/anything"));
        assert!(spec("/").matches_path("/"));
    }
}
