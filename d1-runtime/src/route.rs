//! Tenant key → shard: a stable hash of the key, then jump consistent hashing, so growing the
//! pool from N to N+1 shards moves only about 1/(N+1) of the tenants.

/// FNV-1a, 64 bits: a fixed, documented hash (std's `DefaultHasher` may change between
/// releases, and a tenant must never change shards because the compiler did).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Jump consistent hash (Lamping & Veach, 2014): `key` → a bucket in `0..buckets`.
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let buckets = i64::from(buckets.max(1));
    let (mut b, mut j) = (-1i64, 0i64);
    while j < buckets {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    // 0 <= b < buckets <= u32::MAX
    b as u32
}

/// The shard of `tenant` in a pool of `shards` databases (0 when `shards` is 0 or 1).
pub fn shard_for(tenant: &[u8], shards: u32) -> u32 {
    jump_hash(stable_hash(tenant), shards)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values_never_change() {
        // Pinned: changing these would move every tenant of every deployed pool.
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        let shards: Vec<u32> = ["alice", "bob", "carol", "dave"]
            .iter()
            .map(|k| shard_for(k.as_bytes(), 8))
            .collect();
        assert_eq!(shards, vec![4, 2, 7, 0]);
        assert_eq!(shard_for(b"anyone", 1), 0);
        assert_eq!(shard_for(b"anyone", 0), 0);
    }

    proptest! {
        #[test]
        fn in_range_and_moves_only_to_the_new_shard(key in any::<u64>(), n in 1u32..200) {
            let before = jump_hash(key, n);
            let after = jump_hash(key, n + 1);
            prop_assert!(before < n);
            prop_assert!(after == before || after == n);
        }
    }

    #[test]
    fn growing_the_pool_moves_few_tenants() {
        let moved = (0..10_000u32)
            .filter(|i| {
                let k = format!("user-{i}");
                shard_for(k.as_bytes(), 8) != shard_for(k.as_bytes(), 9)
            })
            .count();
        // Expected 10,000 / 9 ≈ 1,111; `hash % n` would move ~8,900.
        assert!((900..1_350).contains(&moved), "{moved}");
    }
}
