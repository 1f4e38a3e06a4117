package dev.cairn.retention;

import dev.cairn.metadata.CacheSnapshot;

import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The cache as retention sees it: manifests grouped into the units that are evicted whole. A unit is a
 * root manifest (tagged, or referenced by no other manifest of its repository) with the untagged
 * manifests it pulls in: an index's children and the referrers (signatures, SBOMs) of any member.
 * Evicting a unit in this model also counts the bytes it frees: blobs that no surviving manifest, in
 * any repository, references any more.
 */
final class CacheGraph {
    /** One manifest of one repository. */
    record Node(String repository, String digest, long size, Instant pushedAt, Instant lastUsedAt, Optional<String> subject) {
        String key() {
            return repository + "@" + digest;
        }
    }

    /** A root and what is evicted with it, as of when the unit was formed. */
    record Unit(Node root, List<Node> members, List<String> tags, Instant lastUse) {
        String repository() {
            return root.repository();
        }

        boolean tagged() {
            return !tags.isEmpty();
        }
    }

    /** What evicting a unit deletes and frees. */
    record Eviction(Unit unit, String reason, List<Node> deleted, Map<String, Long> freedBlobs, long freedBytes) {
    }

    private final Map<String, Node> nodes = new HashMap<>();
    private final Map<String, List<String>> tags = new HashMap<>();
    private final Map<String, List<String>> childManifests = new HashMap<>();
    private final Map<String, List<String>> referrers = new HashMap<>();
    private final Map<String, List<String>> blobReferences = new HashMap<>();
    private final Map<String, Integer> inDegree = new HashMap<>();
    private final Map<String, Integer> blobReferenceCount = new HashMap<>();
    private final Map<String, Long> blobSizes;

    CacheGraph(CacheSnapshot snapshot) {
        this.blobSizes = snapshot.blobSizes();
        for (CacheSnapshot.ManifestRow m : snapshot.manifests()) {
            Node node = new Node(m.repository(), m.digest(), m.size(), m.pushedAt(), m.lastUsedAt(), m.subject());
            nodes.put(node.key(), node);
        }
        for (CacheSnapshot.TagRow t : snapshot.tags()) {
            tags.computeIfAbsent(t.repository() + "@" + t.digest(), k -> new ArrayList<>()).add(t.name());
        }
        for (CacheSnapshot.ReferenceRow r : snapshot.references()) {
            String from = r.repository() + "@" + r.manifest();
            String to = r.repository() + "@" + r.reference();
            if (!nodes.containsKey(from)) continue;
            if (nodes.containsKey(to)) {
                childManifests.computeIfAbsent(from, k -> new ArrayList<>()).add(to);
                inDegree.merge(to, 1, Integer::sum);
            } else {
                blobReferences.computeIfAbsent(from, k -> new ArrayList<>()).add(r.reference());
                blobReferenceCount.merge(r.reference(), 1, Integer::sum);
            }
        }
        for (Node node : nodes.values()) {
            node.subject().ifPresent(subject -> {
                String subjectKey = node.repository() + "@" + subject;
                if (nodes.containsKey(subjectKey)) {
                    referrers.computeIfAbsent(subjectKey, k -> new ArrayList<>()).add(node.key());
                }
            });
        }
    }

    /** Bytes of stored blobs that no manifest references: the sweep frees them, evicting cannot free them sooner. */
    long unreferencedBlobBytes() {
        long bytes = 0;
        for (Map.Entry<String, Long> blob : blobSizes.entrySet()) {
            if (blobReferenceCount.getOrDefault(blob.getKey(), 0) == 0) bytes += blob.getValue();
        }
        return bytes;
    }

    private boolean isTagged(String key) {
        return !tags.getOrDefault(key, List.of()).isEmpty();
    }

    /** A referrer whose subject is still here lives and dies with that subject. */
    private boolean followsItsSubject(Node node) {
        return node.subject().map(s -> nodes.containsKey(node.repository() + "@" + s)).orElse(false);
    }

    private boolean isRoot(Node node) {
        return isTagged(node.key()) || (inDegree.getOrDefault(node.key(), 0) == 0 && !followsItsSubject(node));
    }

    /** The units of the cache as it stands now, least recently used first. */
    List<Unit> units() {
        List<Unit> units = new ArrayList<>();
        for (Node node : nodes.values()) {
            if (isRoot(node)) units.add(unitOf(node));
        }
        units.sort(Comparator.comparing(Unit::lastUse).thenComparing(u -> u.root().pushedAt()).thenComparing(u -> u.root().key()));
        return units;
    }

    private Unit unitOf(Node root) {
        Set<String> members = new LinkedHashSet<>();
        Deque<String> queue = new ArrayDeque<>(List.of(root.key()));
        while (!queue.isEmpty()) {
            String key = queue.poll();
            if (!members.add(key)) continue;
            for (String next : concat(childManifests.get(key), referrers.get(key))) {
                if (!isTagged(next) && nodes.containsKey(next)) queue.add(next);
            }
        }
        List<Node> memberNodes = members.stream().map(nodes::get).toList();
        Instant lastUse = memberNodes.stream().map(n -> n.lastUsedAt().isAfter(n.pushedAt()) ? n.lastUsedAt() : n.pushedAt())
                .max(Comparator.naturalOrder()).orElse(root.pushedAt());
        return new Unit(root, memberNodes, List.copyOf(tags.getOrDefault(root.key(), List.of())), lastUse);
    }

    /**
     * Removes the unit from this model: the root, then every member no surviving manifest still needs
     * (untagged, no references left, not a referrer of a surviving subject). Returns what went and the
     * blobs whose last reference went with it.
     */
    Eviction evict(Unit unit, String reason) {
        List<Node> deleted = new ArrayList<>();
        Map<String, Long> freedBlobs = new HashMap<>();
        long freed = 0;
        Set<String> done = new HashSet<>();
        Deque<String> queue = new ArrayDeque<>(List.of(unit.root().key()));
        while (!queue.isEmpty()) {
            String key = queue.poll();
            Node node = nodes.get(key);
            if (node == null || done.contains(key)) continue;
            boolean isUnitRoot = key.equals(unit.root().key());
            if (!isUnitRoot && (isTagged(key) || inDegree.getOrDefault(key, 0) > 0 || followsItsSubject(node))) continue;
            done.add(key);
            nodes.remove(key);
            tags.remove(key);
            deleted.add(node);
            freed += node.size();
            for (String child : childManifests.getOrDefault(key, List.of())) {
                inDegree.merge(child, -1, Integer::sum);
                queue.add(child);
            }
            queue.addAll(referrers.getOrDefault(key, List.of()));
            for (String blob : blobReferences.getOrDefault(key, List.of())) {
                if (blobReferenceCount.merge(blob, -1, Integer::sum) == 0) {
                    long size = blobSizes.getOrDefault(blob, 0L);
                    freedBlobs.put(blob, size);
                    freed += size;
                }
            }
        }
        return new Eviction(unit, reason, deleted, freedBlobs, freed);
    }

    private static List<String> concat(List<String> a, List<String> b) {
        if (a == null) return b == null ? List.of() : b;
        if (b == null) return a;
        List<String> both = new ArrayList<>(a);
        both.addAll(b);
        return both;
    }
}
