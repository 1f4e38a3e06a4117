package dev.cairn.retention;

import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * What retention evicts whole: an OCI unit (a root manifest with its untagged children and referrers), a
 * build tool's keyed result, a step record. The planner sees only this shape, so a new kind of entry needs
 * no change to the planner, the rules, the sweep or the audit log.
 *
 * @param kind     the kind that listed the entry and deletes it
 * @param name     what the rules' globs match: a repository, or a namespace
 * @param key      the entry within its name: an OCI unit's root digest, a keyed entry's key
 * @param pushedAt when it was stored (max-age and the untagged delay count from here)
 * @param lastUse  its latest use, or its push if never used (max-idle and the LRU order count from here)
 * @param tags     the tags an invalidation's tag glob matches (none for entries that have no tags)
 * @param expiresUntagged true for an untagged OCI root, which the untagged delay applies to
 * @param own      records deleted with the entry, as {@code name@key} (an OCI manifest as repository@digest),
 *                 with their bytes; one two entries of a kind share (an index's child under two indexes) goes
 *                 with the last of them
 * @param blobs    digests of the blobs it holds (a digest twice counts as one hold); a blob stays while any
 *                 entry of any kind holds it
 * @param evictable false for what holds records and blobs but is never evicted: an OCI manifest that belongs
 *                 to no unit (an index that is its own child's referrer) keeps what it references
 */
public record Entry(EntryKind kind, String name, String key, Instant pushedAt, Instant lastUse, List<String> tags,
                    boolean expiresUntagged, Map<String, Long> own, Collection<String> blobs, boolean evictable) {
    public Entry {
        tags = List.copyOf(tags);
    }

    /**
     * Orders entries by name, then key, as the strings {@code name@key} would order (how units were ordered
     * before entries had kinds), without building those strings: a plan sorts hundreds of thousands.
     */
    static int compareIds(Entry a, Entry b) {
        int common = Math.min(a.name.length(), b.name.length());
        for (int i = 0; i < common; i++) {
            int c = Character.compare(a.name.charAt(i), b.name.charAt(i));
            if (c != 0) return c;
        }
        if (a.name.length() != b.name.length()) {
            // one name is a prefix of the other: the shorter continues with '@', the longer with its next character
            return a.name.length() < b.name.length() ? Character.compare('@', b.name.charAt(common)) : Character.compare(a.name.charAt(common), '@');
        }
        return a.key.compareTo(b.key);
    }
}
