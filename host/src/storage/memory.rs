//! Records in process memory: the unit tests' backend. Same rules as
//! SQLite (it runs the same contract tests): a write transaction works on
//! a copy and holds the store's writer slot until it commits or drops; a
//! read-only one sees the snapshot taken at its first read.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::{
    Association, Backend, Limits, Mode, Record, Records, Store, StoreError, StoreResult, Txn,
};

/// Stores kept in memory, one per app id, for the life of the backend.
#[derive(Default)]
pub struct MemoryBackend {
    limits: Limits,
    stores: Mutex<HashMap<String, Arc<MemoryStore>>>,
}

/// One app's records (shared with its transactions).
pub struct MemoryStore(Arc<Shared>);

impl MemoryBackend {
    /// An empty backend with `limits`.
    pub fn new(limits: Limits) -> Self {
        MemoryBackend {
            limits,
            stores: Mutex::default(),
        }
    }
}

impl Backend for MemoryBackend {
    fn open(&self, app: &str) -> StoreResult<Arc<dyn Store>> {
        crate::manifest::validate_app_id(app)
            .map_err(|e| StoreError::Invalid(format!("app id {e}")))?;
        let mut stores = self.stores.lock().expect("memory backend poisoned");
        let store = stores.entry(app.to_string()).or_insert_with(|| {
            Arc::new(MemoryStore(Arc::new(Shared {
                limits: self.limits,
                state: Mutex::new(State::default()),
                writer_done: Condvar::new(),
            })))
        });
        Ok(store.clone())
    }

    fn open_staged(&self, app: &str, _staging: &Path) -> StoreResult<Arc<dyn Store>> {
        self.open(app)
    }
}

#[derive(Default)]
struct State {
    records: Arc<Vec<Record>>,
    writer: bool,
}

struct Shared {
    limits: Limits,
    state: Mutex<State>,
    writer_done: Condvar,
}

impl Store for MemoryStore {
    fn begin(&self, mode: Mode, deadline: Instant) -> Box<dyn Txn> {
        Box::new(MemoryTxn {
            budget: super::Budget::default(),
            store: self.0.clone(),
            mode,
            deadline,
            work: None,
        })
    }

    fn all_records(&self) -> StoreResult<Vec<Record>> {
        Ok(self
            .0
            .state
            .lock()
            .expect("store poisoned")
            .records
            .to_vec())
    }

    fn usage(&self) -> StoreResult<(u64, u64)> {
        let state = self.0.state.lock().expect("store poisoned");
        let bytes = state.records.iter().map(|r| r.data.len() as u64).sum();
        Ok((state.records.len() as u64, bytes))
    }
}

struct MemoryTxn {
    budget: super::Budget,
    store: Arc<Shared>,
    mode: Mode,
    deadline: Instant,
    /// The records as this transaction sees them, once it has begun.
    work: Option<Vec<Record>>,
}

impl MemoryTxn {
    fn records(&mut self) -> StoreResult<&mut Vec<Record>> {
        if self.work.is_none() {
            let mut state = self.store.state.lock().expect("store poisoned");
            if self.mode == Mode::Write {
                while state.writer {
                    let wait = self.deadline.saturating_duration_since(Instant::now());
                    if wait.is_zero() {
                        return Err(StoreError::Busy(
                            "the app's store stayed locked by another writer; try again".into(),
                        ));
                    }
                    state = self
                        .store
                        .writer_done
                        .wait_timeout(state, wait)
                        .expect("store poisoned")
                        .0;
                }
                state.writer = true;
            }
            self.work = Some(state.records.to_vec());
        }
        Ok(self.work.as_mut().expect("set above"))
    }

    fn writable(&mut self) -> StoreResult<&mut Vec<Record>> {
        if self.mode == Mode::Read {
            return Err(StoreError::Unavailable(
                "a read-only call cannot write".into(),
            ));
        }
        self.records()
    }

    fn matching(&mut self, associations: &[Association]) -> StoreResult<Vec<usize>> {
        let wanted = super::normalize(associations)?;
        let limits = self.store.limits;
        let records = self.records()?;
        let found: Vec<usize> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| wanted.iter().all(|w| r.associations.contains(w)))
            .map(|(i, _)| i)
            .collect();
        let bytes = found
            .iter()
            .map(|&i| records[i].id.len() + records[i].data.len());
        super::check_result_bytes(bytes.sum(), &limits)?;
        super::check_match_count(found.len(), &limits)?;
        Ok(found)
    }
}

impl Records for MemoryTxn {
    fn create(&mut self, data: &str, associations: &[Association]) -> StoreResult<String> {
        super::check_data(data, &self.store.limits)?;
        super::check_associations(associations)?;
        let mut kept: Vec<Association> = Vec::with_capacity(associations.len());
        for a in associations {
            if !kept.contains(a) {
                kept.push(a.clone());
            }
        }
        self.budget.write(1, &self.store.limits)?;
        let id = super::new_record_id();
        self.writable()?.push(Record {
            id: id.clone(),
            associations: kept,
            data: data.to_string(),
        });
        Ok(id)
    }

    fn update(&mut self, id: &str, data: &str, upsert: bool) -> StoreResult<String> {
        super::check_id(id)?;
        super::check_data(data, &self.store.limits)?;
        self.budget.write(1, &self.store.limits)?;
        let records = self.writable()?;
        match records.iter_mut().find(|r| r.id == id) {
            Some(r) => r.data = data.to_string(),
            None if upsert => records.push(Record {
                id: id.to_string(),
                associations: Vec::new(),
                data: data.to_string(),
            }),
            None => return Err(super::missing_for_update(id)),
        }
        Ok(id.to_string())
    }

    fn update_by_associations(
        &mut self,
        associations: &[Association],
        data: &str,
        upsert: bool,
    ) -> StoreResult<Vec<String>> {
        super::check_data(data, &self.store.limits)?;
        let found = self.matching(associations)?;
        if found.is_empty() && upsert {
            return Ok(vec![self.create(data, associations)?]);
        }
        self.budget.write(found.len(), &self.store.limits)?;
        let records = self.writable()?;
        let mut ids = Vec::with_capacity(found.len());
        for i in found {
            records[i].data = data.to_string();
            ids.push(records[i].id.clone());
        }
        Ok(ids)
    }

    fn remove(&mut self, id: &str) -> StoreResult<Option<Record>> {
        super::check_id(id)?;
        let records = self.writable()?;
        Ok(records
            .iter()
            .position(|r| r.id == id)
            .map(|i| records.remove(i)))
    }

    fn remove_by_associations(&mut self, associations: &[Association]) -> StoreResult<Vec<Record>> {
        let found = self.matching(associations)?;
        self.budget.write(found.len(), &self.store.limits)?;
        let records = self.writable()?;
        Ok(found
            .into_iter()
            .rev()
            .map(|i| records.remove(i))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect())
    }

    fn read(&mut self, id: &str) -> StoreResult<Option<Record>> {
        super::check_id(id)?;
        Ok(self.records()?.iter().find(|r| r.id == id).cloned())
    }

    fn read_by_associations(&mut self, associations: &[Association]) -> StoreResult<Vec<Record>> {
        let found = self.matching(associations)?;
        let records = self.records()?;
        Ok(found.into_iter().map(|i| records[i].clone()).collect())
    }
}

impl Txn for MemoryTxn {
    fn commit(mut self: Box<Self>) -> StoreResult<()> {
        if self.mode == Mode::Write
            && let Some(work) = self.work.take()
        {
            let mut state = self.store.state.lock().expect("store poisoned");
            state.records = Arc::new(work);
            state.writer = false;
            self.store.writer_done.notify_one();
        }
        Ok(())
    }
}

impl Drop for MemoryTxn {
    fn drop(&mut self) {
        if self.mode == Mode::Write && self.work.take().is_some() {
            let mut state = self.store.state.lock().expect("store poisoned");
            state.writer = false;
            self.store.writer_done.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract() {
        crate::storage::contract_tests::run_all(&MemoryBackend::new(Limits::default()));
    }

    #[test]
    fn writers_are_serialised_and_readers_see_snapshots() {
        let backend = MemoryBackend::new(Limits::default());
        let store = backend.open("a").unwrap();
        let later = Instant::now() + std::time::Duration::from_secs(5);
        let mut w = store.begin(Mode::Write, later);
        w.update("k", "1", true).unwrap();
        let mut r = store.begin(Mode::Read, later);
        assert!(r.read("k").unwrap().is_none());
        let mut w2 = store.begin(Mode::Write, Instant::now());
        assert!(matches!(w2.read("k"), Err(StoreError::Busy(_))));
        w.commit().unwrap();
        let mut w3 = store.begin(Mode::Write, later);
        assert_eq!(w3.read("k").unwrap().unwrap().data, "1");
    }
}
