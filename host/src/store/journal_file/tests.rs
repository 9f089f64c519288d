use super::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ruvuma-journal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn body(n: i64) -> String {
    format!("{{\"message_id\":\"m{n}\",\"content\":\"{}\"}}", "x".repeat(100))
}

fn seqs(r: &Recovered) -> Vec<i64> {
    r.entries.iter().map(|e| e.0).collect()
}

#[test]
fn what_waits_is_read_back_in_order_and_what_was_handled_is_not() {
    let d = dir("order");
    {
        let (mut j, r) = JournalFile::open(&d).unwrap();
        assert!(r.entries.is_empty());
        for n in 1..=5 {
            j.put(n, "sms.outbound", &body(n)).unwrap();
        }
        j.commit().unwrap();
        j.done(2);
        j.done(4);
        // Put and handled before they were written: never read back.
        j.put(6, "sms.outbound", &body(6)).unwrap();
        j.done(6);
        j.done(99);
        j.commit().unwrap();
        assert_eq!(j.waiting(), 3);
    }
    let (j, r) = JournalFile::open(&d).unwrap();
    assert_eq!(seqs(&r), [1, 3, 5]);
    assert_eq!(r.entries[1], (3, "sms.outbound".to_owned(), body(3)));
    assert_eq!(r.last_seq, 6, "numbering goes on above every entry seen");
    assert!(r.damage.is_empty());
    assert_eq!(j.waiting(), 3);
    drop(j);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_torn_record_is_cut_off_and_named_and_the_rest_is_kept() {
    let d = dir("torn");
    {
        let (mut j, _) = JournalFile::open(&d).unwrap();
        j.put(1, "a.inbound", &body(1)).unwrap();
        j.put(2, "a.inbound", &body(2)).unwrap();
        j.commit().unwrap();
    }
    let segment = segment_ids(&d).unwrap()[0];
    let path = segment_path(&d, segment);
    let whole = std::fs::metadata(&path).unwrap().len();
    // A crash in the middle of the second record, then a damaged byte in a later write.
    let mut bytes = std::fs::read(&path).unwrap();
    let first_len = bytes.len() / 2;
    bytes.truncate(whole as usize - 10);
    std::fs::write(&path, &bytes).unwrap();
    let (j, r) = JournalFile::open(&d).unwrap();
    assert_eq!(seqs(&r), [1]);
    assert_eq!(r.damage.len(), 1, "{:?}", r.damage);
    assert!(r.damage[0].contains(&format!("at byte {first_len}")), "{:?}", r.damage);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        first_len as u64,
        "cut off at the torn record"
    );
    drop(j);
    // A flipped bit is found by the CRC.
    let (mut j, _) = JournalFile::open(&d).unwrap();
    j.put(3, "a.inbound", &body(3)).unwrap();
    j.commit().unwrap();
    let open = segment_path(&d, j.open.id);
    drop(j);
    let mut bytes = std::fs::read(&open).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&open, &bytes).unwrap();
    let (_j, r) = JournalFile::open(&d).unwrap();
    assert_eq!(seqs(&r), [1]);
    assert!(r.damage.iter().any(|l| l.contains("at byte 0")), "{:?}", r.damage);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn segments_are_deleted_once_handled_and_a_long_waiting_entry_is_carried_forward() {
    let d = dir("segments");
    let (mut j, _) = JournalFile::open(&d).unwrap();
    j.segment_bytes = 2048;
    // Entry 1 waits for ever; everything else is handled soon after it is written.
    j.put(1, "nobody.inbound", &body(1)).unwrap();
    j.commit().unwrap();
    for n in 2..2000 {
        j.put(n, "sms.outbound", &body(n)).unwrap();
        j.commit().unwrap();
        j.done(n);
    }
    j.commit().unwrap();
    let on_disk = segment_ids(&d).unwrap().len();
    assert!(on_disk <= SEGMENTS_KEPT, "{on_disk} segments on disk");
    let bytes: u64 = segment_ids(&d)
        .unwrap()
        .iter()
        .map(|id| std::fs::metadata(segment_path(&d, *id)).unwrap().len())
        .sum();
    assert!(bytes <= 3 * 2048 + 1024, "{bytes} bytes on disk for one waiting entry");
    assert_eq!(j.waiting(), 1);
    drop(j);
    let (_j, r) = JournalFile::open(&d).unwrap();
    assert_eq!(seqs(&r), [1]);
    assert_eq!(r.entries[0].2, body(1));
    assert_eq!(r.last_seq, 1999);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn restarts_leave_one_segment_behind_them_when_nothing_waits() {
    let d = dir("restarts");
    for n in 1..=4 {
        let (mut j, r) = JournalFile::open(&d).unwrap();
        assert!(r.entries.is_empty());
        j.put(n, "k.inbound", &body(n)).unwrap();
        j.commit().unwrap();
        j.done(n);
        j.commit().unwrap();
    }
    let (_j, _) = JournalFile::open(&d).unwrap();
    assert_eq!(segment_ids(&d).unwrap().len(), 1, "only the open segment is left");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_second_host_is_kept_off_an_open_journal() {
    let d = dir("lock");
    let (j, _) = JournalFile::open(&d).unwrap();
    let err = JournalFile::open(&d).err().expect("the folder is locked").to_string();
    assert!(
        err.contains("in use by another ruvuma process") && err.contains("store.journal"),
        "{err}"
    );
    drop(j);
    assert!(JournalFile::open(&d).is_ok(), "free again once closed");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn damage_anywhere_never_brings_back_an_entry_that_was_not_written_or_was_handled() {
    let d = dir("damage");
    {
        let (mut j, _) = JournalFile::open(&d).unwrap();
        for n in 1..=40 {
            j.put(n, "k.inbound", &body(n)).unwrap();
            if n % 3 == 0 {
                j.done(n - 1);
            }
            j.commit().unwrap();
        }
    }
    let segment = segment_path(&d, segment_ids(&d).unwrap()[0]);
    let whole = std::fs::read(&segment).unwrap();
    // What waits after each whole record, in the order they were written.
    let mut states = vec![Vec::<i64>::new()];
    for n in 1..=40 {
        let mut state = states.last().unwrap().clone();
        state.push(n);
        states.push(state.clone());
        if n % 3 == 0 {
            state.retain(|s| *s != n - 1);
            states.push(state);
        }
    }
    // A small generator of positions (xorshift), so that every run damages the same places.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |below: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % below as u64) as usize
    };
    for round in 0..300 {
        let mut bytes = whole.clone();
        match round % 3 {
            0 => bytes.truncate(next(bytes.len())),
            1 => {
                let at = next(bytes.len());
                bytes[at] ^= 1 << next(8);
            }
            _ => {
                let at = next(bytes.len());
                let n = next(64).min(bytes.len() - at);
                bytes.splice(at..at + n, std::iter::repeat_n(0xff, n));
            }
        }
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(segment_path(&d, 1), &bytes).unwrap();
        let (_j, r) = JournalFile::open(&d).unwrap();
        for (seq, key, text) in &r.entries {
            assert_eq!((key.as_str(), text), ("k.inbound", &body(*seq)), "round {round}");
        }
        // Exactly what waited after some whole prefix of the records: nothing handled comes
        // back, nothing after the damage is read.
        let seqs = seqs(&r);
        assert!(states.contains(&seqs), "round {round}: {seqs:?} is no prefix's state");
        // Named once (a cut at a record's end, or an empty splice, is no damage at all).
        assert!(r.damage.len() <= 1, "round {round}: {:?}", r.damage);
        if seqs != *states.last().unwrap() && bytes.len() == whole.len() {
            assert_eq!(r.damage.len(), 1, "round {round}: damage read past without a word");
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}
