//! The scheduler's test guest. `/t once N [sleep-ms]` schedules N one-shot
//! `count` jobs (ids `once-0..`); `/t batch PREFIX N` N more (ids
//! `PREFIX-0..`); `/t every ID MS` a recurring `tick`;
//! `/t fail` a `count` job that always fails; `/t again` a `count` job that
//! reschedules itself once; `/t fail-then-nothing`
//! schedules a job and then fails (nothing may stay scheduled); `/t cancel
//! ID`. Each run of `count` (after an optional host-side sleep) records
//! `{job}` under `misc:run`; each `tick` records `{job, due}` under
//! `misc:tick`; `boot` (a startup job) records under `misc:boot`.

use hangar_sdk::serde_json::{Value, json};
use hangar_sdk::{
    Association, Command, Commands, DueJob, Error, Job, Jobs, Modifier, Result, Writer,
};

struct Ticker;

#[hangar_sdk::handlers]
impl Commands for Ticker {
    fn execute(command: &Command, _writer: &Writer, modifier: &Modifier) -> Result<()> {
        let args = &command.args;
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
        match arg(0) {
            "once" => {
                let n: usize = arg(1).parse().unwrap_or(1);
                let sleep: u64 = arg(2).parse().unwrap_or(0);
                for i in 0..n {
                    modifier.schedule(
                        Job::new("count", &json!({"sleep-ms": sleep}))?.id(&format!("once-{i}")),
                    )?;
                }
                Ok(())
            }
            "batch" => {
                let n: usize = arg(2).parse().unwrap_or(1);
                for i in 0..n {
                    modifier
                        .schedule(Job::new("count", &json!({}))?.id(&format!("{}-{i}", arg(1))))?;
                }
                Ok(())
            }
            "every" => {
                let every: u64 = arg(2).parse().unwrap_or(1000);
                modifier.schedule(Job::new("tick", &json!({}))?.id(arg(1)).every_ms(every))?;
                Ok(())
            }
            "cron" => {
                modifier.schedule(Job::new("tick", &json!({}))?.id(arg(1)).cron(arg(2)))?;
                Ok(())
            }
            "again" => {
                modifier.schedule(Job::new("count", &json!({"again": true}))?.id("again"))?;
                Ok(())
            }
            "fail" => {
                modifier.schedule(Job::new("count", &json!({"fail": true}))?.id("failing"))?;
                Ok(())
            }
            "fail-then-nothing" => {
                modifier.schedule(Job::new("count", &json!({}))?.id("never"))?;
                Err(Error::App("failing after scheduling".into()))
            }
            "cancel" => {
                modifier.cancel_job(arg(1))?;
                Ok(())
            }
            other => Err(Error::App(format!("unknown '{other}'"))),
        }
    }
}

#[hangar_sdk::handlers]
impl Jobs for Ticker {
    fn run(job: &DueJob, writer: &Writer, _modifier: &Modifier) -> Result<()> {
        match job.processor.as_str() {
            "count" => {
                if job.data["fail"] == Value::Bool(true) {
                    return Err(Error::App("this job always fails".into()));
                }
                if job.data["again"] == Value::Bool(true) {
                    // Reschedule itself once, plainly: the new job stands.
                    _modifier.schedule(Job::new("count", &json!({}))?.id(&job.id))?;
                }
                let sleep = job.data["sleep-ms"].as_u64().unwrap_or(0);
                if sleep > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(sleep));
                }
                writer.create_with(&json!({"job": job.id}), &[Association::misc("run")])?;
            }
            "tick" => {
                writer.create_with(
                    &json!({"job": job.id, "due": job.due}),
                    &[Association::misc("tick")],
                )?;
            }
            "boot" => {
                writer.create_with(&json!({"boot": true}), &[Association::misc("boot")])?;
            }
            other => return Err(Error::App(format!("no processor {other}"))),
        }
        Ok(())
    }
}

hangar_sdk::export_app!(Ticker, manifest = "hangar.json", handles = [Commands, Jobs]);
