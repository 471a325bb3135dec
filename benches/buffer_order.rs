//! Finds the order in which to give the buffer searcher its keys
//! (`classify::BUFFER_ORDER`), and prints it as that constant.
//!
//! aho-corasick's Teddy (1.1) puts a key in the bucket of the first key
//! before it with the same low nibbles in its first four bytes, or else in
//! bucket `15 - position % 16`; at every window of four bytes it checks each
//! bucket whose nibble masks the window passes. A pass that no key of the
//! bucket explains costs a mispredicted branch, so the order worth having is
//! the one whose buckets pass the fewest windows of routine text. This
//! models that assignment, counts the passes over the reference files, and
//! improves the order by swapping two keys at a time (a fixed seed, so runs
//! agree). `--holdout FILE...` only reports the counts on other text.
//!
//!   cargo bench --bench buffer_order -- target/corpora/*.log \
//!       tests/fixtures/real/postfix-3.7.11.log --holdout bench-out/corpus-2000000.log

use std::collections::HashMap;

const BUCKETS: usize = 16;
/// Swaps tried from each starting order (40,000 found nothing better).
const TRIES: usize = 10_000;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let split = args.iter().position(|a| a == "--holdout");
    let (reference, holdout) = match split {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (&args[..], &[][..]),
    };
    assert!(
        !reference.is_empty(),
        "usage: buffer_order FILE... [--holdout FILE...]"
    );
    let c = gateway_exporter::classify::Classifier::builder()
        .build()
        .unwrap();
    let current: Vec<Vec<u8>> = c
        .buffer_keys()
        .iter()
        .map(|k| k.clone().into_bytes())
        .collect();
    assert!(
        current.len() > 32,
        "fewer than 33 keys: slim Teddy, 8 buckets"
    );
    let grams = Grams::of(reference);
    let mut sorted = current.clone();
    sorted.sort();
    let mut best = current.clone();
    let mut best_cost = grams.cost(&best);
    // Swaps that lower the count, from the current order; then once more
    // from the sorted one, keeping the better.
    for start in [current.clone(), sorted.clone()] {
        let (order, cost) = improve(&grams, start, TRIES);
        if cost < best_cost {
            best = order;
            best_cost = cost;
        }
    }
    let holdouts: Vec<(String, Grams)> = holdout
        .iter()
        .map(|f| (f.clone(), Grams::of(std::slice::from_ref(f))))
        .collect();
    for (name, order) in [("current", &current), ("sorted", &sorted), ("found", &best)] {
        print!(
            "{name:8} reference {:>8} passes / {} windows",
            grams.cost(order),
            grams.windows
        );
        for (f, g) in &holdouts {
            print!("; {f} {} / {}", g.cost(order), g.windows);
        }
        println!();
    }
    println!("pub const BUFFER_ORDER: &[&str] = &[");
    for k in &best {
        println!("    {:?},", String::from_utf8_lossy(k));
    }
    println!("];");
}

/// Every window of four bytes in some text, with how often it occurs.
struct Grams {
    counts: Vec<([u8; 4], u64)>,
    windows: u64,
}

impl Grams {
    fn of(files: &[String]) -> Grams {
        let mut map: HashMap<[u8; 4], u64> = HashMap::new();
        let mut windows = 0;
        for f in files {
            let text = std::fs::read(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            for w in text.windows(4) {
                *map.entry([w[0], w[1], w[2], w[3]]).or_default() += 1;
                windows += 1;
            }
        }
        let mut counts: Vec<_> = map.into_iter().collect();
        counts.sort();
        Grams { counts, windows }
    }

    /// Windows passed by a bucket's masks, summed over the buckets.
    fn cost(&self, order: &[Vec<u8>]) -> u64 {
        let len = mask_len(order);
        sets(order).iter().map(|b| self.passes(b, len)).sum()
    }

    fn passes(&self, bucket: &[&[u8]], len: usize) -> u64 {
        if bucket.is_empty() {
            return 0;
        }
        let mut lo = [0u16; 4];
        let mut hi = [0u16; 4];
        for k in bucket {
            for i in 0..len {
                lo[i] |= 1 << (k[i] & 15);
                hi[i] |= 1 << (k[i] >> 4);
            }
        }
        let pass = |b: u8, i: usize| lo[i] >> (b & 15) & 1 == 1 && hi[i] >> (b >> 4) & 1 == 1;
        self.counts
            .iter()
            .filter(|(g, _)| (0..len).all(|i| pass(g[i], i)))
            .map(|(_, n)| n)
            .sum()
    }
}

fn mask_len(order: &[Vec<u8>]) -> usize {
    order.iter().map(Vec::len).min().unwrap_or(0).min(4)
}

/// The keys (by position) in each bucket, as Teddy assigns them.
fn buckets(order: &[Vec<u8>]) -> Vec<Vec<usize>> {
    let len = mask_len(order);
    let mut of_nibbles: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut out = vec![Vec::new(); BUCKETS];
    for (id, k) in order.iter().enumerate() {
        let nibbles: Vec<u8> = k[..len].iter().map(|b| b & 15).collect();
        let b = *of_nibbles
            .entry(nibbles)
            .or_insert(BUCKETS - 1 - id % BUCKETS);
        out[b].push(id);
    }
    out
}

/// Each bucket's keys, sorted, so two assignments compare by content.
fn sets(order: &[Vec<u8>]) -> Vec<Vec<&[u8]>> {
    buckets(order)
        .iter()
        .map(|b| {
            let mut keys: Vec<&[u8]> = b.iter().map(|&k| &order[k][..]).collect();
            keys.sort();
            keys
        })
        .collect()
}

fn improve(grams: &Grams, mut order: Vec<Vec<u8>>, tries: usize) -> (Vec<Vec<u8>>, u64) {
    let len = mask_len(&order);
    let mut per_bucket: Vec<u64> = sets(&order).iter().map(|b| grams.passes(b, len)).collect();
    let mut cost: u64 = per_bucket.iter().sum();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let n = order.len();
    for _ in 0..tries {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (i, j) = ((x % n as u64) as usize, ((x >> 32) % n as u64) as usize);
        if i == j {
            continue;
        }
        let before: Vec<Vec<Vec<u8>>> = sets(&order)
            .into_iter()
            .map(|b| b.into_iter().map(<[u8]>::to_vec).collect())
            .collect();
        order.swap(i, j);
        let mut trial = per_bucket.clone();
        for (b, keys) in sets(&order).iter().enumerate() {
            if keys.len() != before[b].len() || keys.iter().zip(&before[b]).any(|(k, o)| k != o) {
                trial[b] = grams.passes(keys, len);
            }
        }
        let c: u64 = trial.iter().sum();
        if c < cost {
            cost = c;
            per_bucket = trial;
        } else {
            order.swap(i, j);
        }
    }
    (order, cost)
}
