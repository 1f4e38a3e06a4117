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
 * The OCI manifests as retention sees them: grouped into the units that are evicted whole. A unit is a
 * root manifest (tagged, or referenced by no other manifest of its repository) with the untagged
 * manifests it pulls in: an index's children and the referrers (signatures, SBOMs) of any member.
 * {@link OciUnits} turns each unit into an {@link Entry}; what evicting one frees is the planner's count.
 */
final class CacheGraph {
    /** One manifest of one repository. */
    /** {@code key} is repository@digest, made once: every map of the graph and of the plan is keyed by it. */
    record Node(String repository, String digest, long size, Instant pushedAt, Instant lastUsedAt, Optional<String> subject, String key) {
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

    private final Map<String, Node> nodes = new HashMap<>();
    private final Map<String, List<String>> tags = new HashMap<>();
    private final Map<String, List<String>> childManifests = new HashMap<>();
    private final Map<String, List<String>> referrers = new HashMap<>();
    private final Map<String, List<String>> blobReferences = new HashMap<>();
    private final Map<String, Integer> inDegree = new HashMap<>();

    CacheGraph(CacheSnapshot snapshot) {
        for (CacheSnapshot.ManifestRow m : snapshot.manifests()) {
            Node node = new Node(m.repository(), m.digest(), m.size(), m.pushedAt(), m.lastUsedAt(), m.subject(),
                    m.repository() + "@" + m.digest());
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

    /** The manifests none of whose keys (repository@digest) is among {@code inUnits}: those no unit reaches. */
    List<Node> nodesInNoUnit(Set<String> inUnits) {
        List<Node> stranded = new ArrayList<>();
        for (Node node : nodes.values()) {
            if (!inUnits.contains(node.key())) stranded.add(node);
        }
        return stranded;
    }

    /** The blobs (references to anything but a manifest of the repository) a manifest makes. */
    List<String> blobsReferencedBy(Node node) {
        return blobReferences.getOrDefault(node.key(), List.of());
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

    /**
     * What a manifest keeps while it stays, as a unit would: itself, its untagged children and their referrers,
     * down the graph. For a manifest no unit reaches, which stays for good.
     */
    Unit unitOf(Node root) {
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

    private static List<String> concat(List<String> a, List<String> b) {
        if (a == null) return b == null ? List.of() : b;
        if (b == null) return a;
        List<String> both = new ArrayList<>(a);
        both.addAll(b);
        return both;
    }
}
