package dev.cairn.retention;

import dev.cairn.metadata.RetentionRecords;
import dev.cairn.metadata.RetentionRecords.UnitMember;
import dev.cairn.values.DeletionReason;
import dev.cairn.values.RepositoryName;

import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * What retention evicts whole: an OCI unit (a root manifest with its untagged children and referrers), a
 * build tool's keyed result, a step record. The planner sees only this shape, so a new kind of keyed entry
 * needs no change to the planner, the rules, the sweep or the audit log.
 *
 * @param kind     {@code manifest} for an OCI unit; a keyed entry's kind otherwise
 * @param name     what the rules' globs match: a repository, or a namespace
 * @param key      the entry within its name: an OCI unit's root digest, a keyed entry's key
 * @param pushedAt when it was stored (max-age and the untagged delay count from here)
 * @param lastUse  its latest use, or its push if never used (max-idle and the LRU order count from here): for
 *                 a unit, the latest of any member's
 * @param tags     the tags an invalidation's tag glob matches (none for entries that have no tags)
 * @param expiresUntagged true for an untagged OCI root, which the untagged delay applies to
 * @param ownBytes the bytes of its own records (a unit's manifests, a keyed entry's record)
 * @param members  a unit's manifests as read, root first; empty for a keyed entry
 */
public record Entry(String kind, String name, String key, Instant pushedAt, Instant lastUse, List<String> tags,
                    boolean expiresUntagged, long ownBytes, List<UnitMember> members) {
    static final String OCI_UNIT = "manifest";

    /** Least recently used first; ties by push time, then name, key and kind, as the records list them. */
    static final Comparator<Entry> LEAST_RECENTLY_USED_FIRST = Comparator.comparing(Entry::lastUse).thenComparing(Entry::pushedAt)
            .thenComparing(Entry::name).thenComparing(Entry::key).thenComparing(Entry::kind);
    /** Oldest push first; ties by name, key and kind. */
    static final Comparator<Entry> OLDEST_PUSH_FIRST = Comparator.comparing(Entry::pushedAt).thenComparing(Entry::name)
            .thenComparing(Entry::key).thenComparing(Entry::kind);

    public Entry {
        tags = List.copyOf(tags);
        members = List.copyOf(members);
    }

    boolean isOciUnit() {
        return kind.equals(OCI_UNIT);
    }

    /** The records it owns: a unit's manifest digests, root first; a keyed entry's key. */
    List<String> records() {
        return isOciUnit() ? members.stream().map(UnitMember::digest).toList() : List.of(key);
    }

    /** How the records name each of its records as a blob's holder (see {@link RetentionRecords#blobHolders}). */
    List<String> holderIds() {
        return isOciUnit() ? members.stream().map(m -> name + "@" + m.digest()).toList() : List.of(kind + ":" + name + "@" + key);
    }

    /**
     * Its deletion if still as read: not pushed again and, with {@code guardUse}, not used since (an invalidation
     * takes entries from everyone at once, builds in flight included, so it does not guard).
     */
    RetentionRecords.Deletion deletion(DeletionReason reason, boolean guardUse) {
        if (isOciUnit()) {
            Optional<Instant> usedNoLaterThan = guardUse
                    ? members.stream().map(UnitMember::lastUsedAt).max(Instant::compareTo) : Optional.empty();
            return new RetentionRecords.UnitDeletion(RepositoryName.of(name), records(), pushedAt, usedNoLaterThan,
                    reason == DeletionReason.UNTAGGED, reason);
        }
        return new RetentionRecords.EntryDeletion(kind, name, key, pushedAt, guardUse ? Optional.of(lastUse) : Optional.empty(), reason);
    }
}
