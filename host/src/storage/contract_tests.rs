//! The behaviour every backend owes the host, run against each backend by
//! its own tests: the record operations, the association rule, limits,
//! rollback on drop, and a random-sequence comparison with a model.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{Association, Backend, Limits, MAX_ASSOCIATION_ID, Mode, Model, Record, StoreError};

/// A new app id per store, so tests sharing a backend never meet.
fn fresh() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("app{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

/// Every contract test, on `backend`.
pub(crate) fn run_all(backend: &dyn Backend) {
    create_read_update_remove(backend);
    association_rule_is_and_ignoring_order_and_duplicates(backend);
    update_by_associations_upserts_only_when_nothing_matches(backend);
    rejects_bad_data(backend);
    rollback_on_drop_and_commit_persists(backend);
    matches_an_in_memory_model(backend);
}

fn user(id: &str) -> Association {
    Association::new(Model::User, id)
}
fn misc(id: &str) -> Association {
    Association::new(Model::Misc, id)
}

pub(crate) fn create_read_update_remove(backend: &dyn Backend) {
    let store = backend.open(&fresh()).unwrap();
    let mut t = store.begin(Mode::Write, later());
    let id = t.create(r#"{"n":1}"#, &[user("alice")]).unwrap();
    let rec = t.read(&id).unwrap().unwrap();
    assert_eq!(rec.data, r#"{"n":1}"#);
    assert_eq!(rec.associations, vec![user("alice")]);
    assert_eq!(t.update(&id, r#"{"n":2}"#, false).unwrap(), id);
    assert_eq!(t.read(&id).unwrap().unwrap().data, r#"{"n":2}"#);
    assert!(matches!(
        t.update("missing", "1", false),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(t.update("fixed", "1", true).unwrap(), "fixed");
    assert_eq!(t.read("fixed").unwrap().unwrap().data, "1");
    let removed = t.remove(&id).unwrap().unwrap();
    assert_eq!(removed.associations, vec![user("alice")]);
    assert!(t.read(&id).unwrap().is_none());
    assert!(t.remove(&id).unwrap().is_none());
    t.commit().unwrap();
    assert_eq!(store.all_records().unwrap().len(), 1);
}

pub(crate) fn association_rule_is_and_ignoring_order_and_duplicates(backend: &dyn Backend) {
    let store = backend.open(&fresh()).unwrap();
    let mut t = store.begin(Mode::Write, later());
    let both = t.create("1", &[user("a"), misc("k")]).unwrap();
    let only_user = t.create("2", &[user("a")]).unwrap();
    t.create("3", &[misc("k")]).unwrap();
    let ids = |v: Vec<Record>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(t.read_by_associations(&[user("a")]).unwrap()),
        vec![both.clone(), only_user]
    );
    assert_eq!(
        ids(t.read_by_associations(&[misc("k"), user("a")]).unwrap()),
        vec![both.clone()]
    );
    assert_eq!(
        ids(t
            .read_by_associations(&[user("a"), misc("k"), user("a")])
            .unwrap()),
        vec![both.clone()]
    );
    assert!(t.read_by_associations(&[user("b")]).unwrap().is_empty());
    assert!(matches!(
        t.read_by_associations(&[]),
        Err(StoreError::Invalid(_))
    ));
    // update uses the same rule as read.
    let updated = t
        .update_by_associations(&[misc("k"), user("a")], "9", false)
        .unwrap();
    assert_eq!(updated, vec![both.clone()]);
    assert_eq!(t.read(&both).unwrap().unwrap().data, "9");
    // and remove too.
    let removed = t.remove_by_associations(&[user("a"), misc("k")]).unwrap();
    assert_eq!(ids(removed), vec![both]);
    assert_eq!(t.read_by_associations(&[user("a")]).unwrap().len(), 1);
}

pub(crate) fn update_by_associations_upserts_only_when_nothing_matches(backend: &dyn Backend) {
    let store = backend.open(&fresh()).unwrap();
    let mut t = store.begin(Mode::Write, later());
    assert!(
        t.update_by_associations(&[user("x")], "1", false)
            .unwrap()
            .is_empty()
    );
    let created = t.update_by_associations(&[user("x")], "1", true).unwrap();
    assert_eq!(created.len(), 1);
    let again = t.update_by_associations(&[user("x")], "2", true).unwrap();
    assert_eq!(again, created);
    let recs = t.read_by_associations(&[user("x")]).unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].data, "2");
    assert_eq!(recs[0].associations, vec![user("x")]);
}

pub(crate) fn rejects_bad_data(backend: &dyn Backend) {
    let store = backend.open(&fresh()).unwrap();
    let mut t = store.begin(Mode::Write, later());
    assert!(matches!(
        t.create("{not json", &[]),
        Err(StoreError::Invalid(_))
    ));
    let big = format!("\"{}\"", "x".repeat(Limits::default().max_record_bytes));
    assert!(matches!(t.create(&big, &[]), Err(StoreError::TooLarge(_))));
    let long = "y".repeat(MAX_ASSOCIATION_ID + 1);
    assert!(matches!(
        t.create("1", &[misc(&long)]),
        Err(StoreError::TooLarge(_))
    ));
}

pub(crate) fn rollback_on_drop_and_commit_persists(backend: &dyn Backend) {
    let store = backend.open(&fresh()).unwrap();
    {
        let mut t = store.begin(Mode::Write, later());
        t.create("1", &[misc("gone")]).unwrap();
        // dropped without commit
    }
    let mut t = store.begin(Mode::Write, later());
    assert!(t.read_by_associations(&[misc("gone")]).unwrap().is_empty());
    t.create("2", &[misc("kept")]).unwrap();
    t.commit().unwrap();
    let mut r = store.begin(Mode::Read, later());
    assert_eq!(r.read_by_associations(&[misc("kept")]).unwrap().len(), 1);
}

pub(crate) fn matches_an_in_memory_model(backend: &dyn Backend) {
    use proptest::prelude::*;
    #[derive(Debug, Clone)]
    enum Op {
        Create(u8, Vec<Association>),
        Update(usize, u8, bool),
        UpdateBy(Vec<Association>, u8, bool),
        Remove(usize),
        RemoveBy(Vec<Association>),
    }
    let assoc = prop_oneof![
        (0..3u8).prop_map(|i| user(&format!("u{i}"))),
        (0..3u8).prop_map(|i| misc(&format!("m{i}"))),
    ];
    let assocs = proptest::collection::vec(assoc, 1..3);
    let op = prop_oneof![
        (any::<u8>(), assocs.clone()).prop_map(|(d, a)| Op::Create(d, a)),
        (0..8usize, any::<u8>(), any::<bool>()).prop_map(|(i, d, u)| Op::Update(i, d, u)),
        (assocs.clone(), any::<u8>(), any::<bool>()).prop_map(|(a, d, u)| Op::UpdateBy(a, d, u)),
        (0..8usize).prop_map(Op::Remove),
        assocs.clone().prop_map(Op::RemoveBy),
    ];
    let matches =
        |have: &[Association], want: &[Association]| want.iter().all(|w| have.contains(w));
    proptest!(ProptestConfig::with_cases(48), |(ops in proptest::collection::vec(op, 1..30), probe in assocs)| {
        let store = backend.open(&fresh()).unwrap();
        let mut t = store.begin(Mode::Write, later());
        // The model: (id, data, associations) in creation order.
        let mut model: Vec<(String, String, Vec<Association>)> = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        for op in ops {
            match op {
                Op::Create(d, a) => {
                    let id = t.create(&d.to_string(), &a).unwrap();
                    ids.push(id.clone());
                    model.push((id, d.to_string(), a));
                }
                Op::Update(i, d, upsert) => {
                    let id = ids.get(i).cloned().unwrap_or_else(|| format!("k{i}"));
                    let res = t.update(&id, &d.to_string(), upsert);
                    match model.iter_mut().find(|r| r.0 == id) {
                        Some(r) => { r.1 = d.to_string(); prop_assert!(res.is_ok()); }
                        None if upsert => { prop_assert!(res.is_ok()); model.push((id, d.to_string(), vec![])); }
                        None => prop_assert!(matches!(res, Err(StoreError::NotFound(_)))),
                    }
                }
                Op::UpdateBy(a, d, upsert) => {
                    let got = t.update_by_associations(&a, &d.to_string(), upsert).unwrap();
                    let want: Vec<String> = model.iter_mut().filter(|r| matches(&r.2, &a)).map(|r| { r.1 = d.to_string(); r.0.clone() }).collect();
                    if want.is_empty() && upsert {
                        prop_assert_eq!(got.len(), 1);
                        ids.push(got[0].clone());
                        model.push((got[0].clone(), d.to_string(), a));
                    } else {
                        prop_assert_eq!(got, want);
                    }
                }
                Op::Remove(i) => {
                    let id = ids.get(i).cloned().unwrap_or_default();
                    if id.is_empty() { continue; }
                    let got = t.remove(&id).unwrap().map(|r| r.id);
                    let pos = model.iter().position(|r| r.0 == id);
                    prop_assert_eq!(got, pos.map(|p| model.remove(p).0));
                }
                Op::RemoveBy(a) => {
                    let got: Vec<String> = t.remove_by_associations(&a).unwrap().into_iter().map(|r| r.id).collect();
                    let want: Vec<String> = model.iter().filter(|r| matches(&r.2, &a)).map(|r| r.0.clone()).collect();
                    model.retain(|r| !matches(&r.2, &a));
                    prop_assert_eq!(got, want);
                }
            }
            let got: Vec<(String, String)> = t.read_by_associations(&probe).unwrap().into_iter().map(|r| (r.id, r.data)).collect();
            let want: Vec<(String, String)> = model.iter().filter(|r| matches(&r.2, &probe)).map(|r| (r.0.clone(), r.1.clone())).collect();
            prop_assert_eq!(got, want);
        }
    });
}
