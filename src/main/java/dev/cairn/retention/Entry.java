package dev.cairn.retention;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
 * @param blobs    digests of the blobs it holds; a blob stays while any entry of any kind holds it
 */
public record Entry(EntryKind kind, String name, String key, Instant pushedAt, Instant lastUse, List<String> tags,
                    boolean expiresUntagged, Map<String, Long> own, Set<String> blobs) {
    public Entry {
        tags = List.copyOf(tags);
    }

    /** Unique across kinds and names, for a stable order among entries last used at the same instant. */
    String id() {
        return name + "@" + key;
    }
}
