package dev.cairn.values;

import java.util.Arrays;

/**
 * Why the cache deleted something, as the audit log, the metrics and the collection reports name it. Every
 * deletion has one; an entry kind added later reuses these rather than inventing its own words.
 */
public enum DeletionReason {
    /** Stored bytes were over the budget and this was the least recently used. */
    BUDGET("budget"),
    /** The names its rule governs held more than the rule's max-bytes, and this was their least recently used. */
    CAP("cap"),
    /** Older than its rule's max-age since its push. */
    MAX_AGE("max-age"),
    /** Not used for longer than its rule's max-idle. */
    MAX_IDLE("max-idle"),
    /** An untagged root older than the untagged delay. */
    UNTAGGED("untagged"),
    /** An administrator's invalidation matched it. */
    INVALIDATED("invalidated"),
    /** A client deleted it through the API. */
    MANUAL("manual"),
    /** A blob nothing held any more, past the grace window (an abandoned push, or content of an entry deleted by hand). */
    UNREFERENCED("unreferenced"),
    /** A blob file no record pointed at. */
    ORPHAN("orphan");

    private final String wireName;

    DeletionReason(String wireName) {
        this.wireName = wireName;
    }

    /** The name in the audit log, the metrics' {@code reason} label and reports. */
    public String wireName() {
        return wireName;
    }

    public static DeletionReason fromWireName(String name) {
        return Arrays.stream(values()).filter(r -> r.wireName.equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no deletion reason " + name));
    }

    @Override
    public String toString() {
        return wireName;
    }
}
