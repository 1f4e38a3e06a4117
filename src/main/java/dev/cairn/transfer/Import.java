package dev.cairn.transfer;

import dev.cairn.registry.Manifest;
import dev.cairn.registry.ManifestParser;
import dev.cairn.registry.MediaTypes;
import dev.cairn.values.Descriptor;
import dev.cairn.values.Digest;
import dev.cairn.values.Reference;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * Puts what an OCI image layout holds into a registry, as a client that pushes would, in an order that
 * leaves no half entry: everything is planned and checked first (every manifest parses, every blob any of
 * them references is in the archive or already in the registry, sizes agree); then the blobs go, each sent
 * once and mounted into the other repositories that need it, skipped where the registry has it already, so an
 * import run again after an interruption sends only the rest; the manifests go last, the documents an index
 * names before the index, and the tag last of all. A failure before that point has linked nothing.
 *
 * <p>An entry of {@code index.json} is named by its {@code org.opencontainers.image.ref.name}: {@code REPO:TAG}
 * and {@code REPO@DIGEST} as export writes them, or a bare tag (skopeo's {@code oci:DIR:TAG}, BuildKit's local
 * cache), which goes into the repository {@code --repo} names. With {@code --repo}, the names that carry a
 * repository go under it ({@code mirror/team/app}).
 */
public final class Import {
    static final String CONTAINERD_NAME = "io.containerd.image.name";
    /** What an import did: image entries and their blobs, and build-tool cache keys written or already there. */
    public record Report(int entries, int blobsSent, long bytesSent, int blobsPresent, int blobsMounted, long keysWritten, long keyBytesSent,
                         long keysPresent) {
    }

    /** One entry of {@code index.json} and where it goes. */
    record Root(RepositoryName repository, Optional<Tag> tag, Descriptor descriptor) {
        String name() {
            return repository + tag.map(t -> ":" + t).orElse("@" + descriptor.digest());
        }
    }

    /** A manifest to push: its media type and bytes. */
    record Document(String mediaType, byte[] content) {
    }

    /** What one repository receives: its manifests in the order they go, and the blobs they need. */
    private static final class Plan {
        final Map<Digest, Document> manifests = new LinkedHashMap<>();
        final Set<Digest> blobs = new TreeSet<>();
    }

    private final OciRegistry registry;
    private final Optional<RepositoryName> prefix;
    private final Consumer<String> progress;
    private TransferMeter meter = TransferMeter.NONE;
    /** Where build-tool cache keys go, when the archive holds any. */
    private Optional<KeyedCaches> keyed = Optional.empty();
    /** The manifests of keys index.json names (see {@link KeyedLayout}), found by {@link #roots}. */
    private final List<Descriptor> keyChunks = new ArrayList<>();

    public Import(OciRegistry registry, Optional<RepositoryName> prefix, Consumer<String> progress) {
        this.registry = registry;
        this.prefix = prefix;
        this.progress = progress;
    }

    /** Reports the bytes to send once planned, and as they go, for a progress display. */
    public Import meteredBy(TransferMeter meter) {
        this.meter = meter;
        return this;
    }

    /** Writes the build-tool cache keys an archive holds through {@code caches} (without it, such an archive is refused). */
    public Import withKeyedCaches(KeyedCaches caches) {
        this.keyed = Optional.of(caches);
        return this;
    }

    public Report run(LayoutArchive archive) throws IOException {
        Map<Digest, byte[]> made = new HashMap<>();
        List<Root> roots;
        Optional<byte[]> indexJson = archive.rootFile("index.json");
        Optional<byte[]> dockerManifest = archive.rootFile("manifest.json");
        if (indexJson.isPresent()) {
            roots = roots(archive, indexJson.get());
        } else if (dockerManifest.isPresent()) {
            roots = DockerArchive.roots(archive, dockerManifest.get(), made, this::root);
        } else {
            throw LayoutArchive.bad(archive.toString(), "neither index.json nor manifest.json: not an OCI image layout or a docker save archive");
        }
        Map<RepositoryName, Plan> plans = new LinkedHashMap<>();
        for (Root root : roots) {
            Plan plan = plans.computeIfAbsent(root.repository(), r -> new Plan());
            walk(archive, made, root.name(), root.descriptor(), plan, new HashSet<>());
        }

        KeyedImport keys = null;
        KeyedImport.Checked checkedKeys = new KeyedImport.Checked(Set.of(), 0);
        if (!keyChunks.isEmpty()) {
            keys = new KeyedImport(keyed.orElseThrow(() -> LayoutArchive.bad(archive.toString(),
                    "holds build-tool cache keys, which only a Cairn takes")), progress, meter);
            checkedKeys = keys.check(archive, keyChunks);
        }

        // what this caller may not push is found before anything is sent, not at the first manifest after blobs went
        for (RepositoryName repository : plans.keySet()) registry.checkPush(repository);
        for (RepositoryName namespace : checkedKeys.namespaces()) registry.checkPush(namespace);
        // the entries already there keep their own times: one listing a repository says which (a registry that keeps
        // no times lists none, and takes none either)
        Set<String> existed = new HashSet<>();
        for (RepositoryName repository : plans.keySet()) {
            for (OciRegistry.ListedEntry entry : registry.entries(repository)) existed.add(repository + "@" + entry.digest());
        }
        // What each repository lacks, and where a blob can be mounted from rather than sent.
        Map<Digest, List<RepositoryName>> lacking = new TreeMap<>();
        Map<Digest, RepositoryName> holder = new HashMap<>();
        int present = 0;
        for (var planned : plans.entrySet()) {
            for (Digest blob : planned.getValue().blobs) {
                if (registry.hasBlob(planned.getKey(), blob)) {
                    holder.putIfAbsent(blob, planned.getKey());
                    present++;
                } else {
                    lacking.computeIfAbsent(blob, b -> new ArrayList<>()).add(planned.getKey());
                }
            }
        }
        for (var need : lacking.entrySet()) {
            if (archive.blobSize(need.getKey()).isEmpty() && !holder.containsKey(need.getKey())) {
                throw LayoutArchive.bad(archive.toString(), "lacks the blob " + need.getKey() + " that " + need.getValue().get(0)
                        + " needs, and the registry does not hold it");
            }
        }

        // a directory's blobs read and checked now: nothing is sent from an archive that turns out corrupt half-way
        archive.verify(lacking.keySet());
        long toSend = 0;
        for (Digest digest : lacking.keySet()) toSend += archive.blobSize(digest).orElse(0L);
        meter.planned(toSend + checkedKeys.bytes());

        java.util.concurrent.atomic.AtomicInteger sent = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicLong bytes = new java.util.concurrent.atomic.AtomicLong();
        int mounted = 0;
        // Blobs another repository already holds are mounted without reading the archive.
        for (var need : lacking.entrySet()) {
            RepositoryName from = holder.get(need.getKey());
            if (from == null) continue;
            for (var it = need.getValue().iterator(); it.hasNext(); ) {
                if (registry.mountBlob(it.next(), need.getKey(), from)) {
                    it.remove();
                    mounted++;
                }
            }
        }
        lacking.values().removeIf(List::isEmpty);
        // The rest from the archive: sent to the first repository that lacks it, mounted into the others. A
        // registry that will not mount gets the bytes again on the next pass.
        for (int pass = 0; !lacking.isEmpty(); pass++) {
            if (pass == 3) throw new IOException("the registry took neither the blobs nor mounts of " + lacking.keySet());
            Map<Digest, List<RepositoryName>> next = new java.util.concurrent.ConcurrentSkipListMap<>();
            java.util.concurrent.atomic.AtomicInteger mountedNow = new java.util.concurrent.atomic.AtomicInteger();
            archive.blobs(lacking.keySet(), (digest, size, content) -> {
                List<RepositoryName> targets = lacking.get(digest);
                RepositoryName first = targets.get(0);
                registry.pushBlob(first, digest, size, meter.metered(content));
                drain(content);
                sent.incrementAndGet();
                bytes.addAndGet(size);
                for (RepositoryName other : targets.subList(1, targets.size())) {
                    if (registry.mountBlob(other, digest, first)) mountedNow.incrementAndGet();
                    else next.computeIfAbsent(digest, d -> java.util.Collections.synchronizedList(new ArrayList<>())).add(other);
                }
            });
            mounted += mountedNow.get();
            lacking.clear();
            lacking.putAll(next);
        }

        for (var planned : plans.entrySet()) {
            for (var manifest : planned.getValue().manifests.entrySet()) {
                registry.pushManifest(planned.getKey(), new Reference.ByDigest(manifest.getKey()),
                        manifest.getValue().mediaType(), manifest.getValue().content());
            }
        }
        for (Root root : roots) {
            if (root.tag().isPresent()) {
                Document document = plans.get(root.repository()).manifests.get(root.descriptor().digest());
                registry.pushManifest(root.repository(), new Reference.ByTag(root.tag().get()), document.mediaType(), document.content());
            }
            progress.accept("imported " + root.name() + " " + root.descriptor().digest());
        }
        // last, once linked: the age an entry had where it came from (its push and last use), so the cache it joins
        // evicts it in its old turn rather than as the newest thing there
        // (a tagged one only, that was not here before: an entry already here keeps its own history, and an untagged
        // one given an old push time would go at the next collection, by the untagged rule)
        for (Root root : roots) {
            Optional<OciRegistry.EntryTimes> times = times(root.descriptor());
            if (times.isPresent() && root.tag().isPresent() && !existed.contains(root.repository() + "@" + root.descriptor().digest())) {
                registry.backdate(root.repository(), root.descriptor().digest(), times.get());
            }
        }
        KeyedImport.Report keysDone = keys == null ? new KeyedImport.Report(0, 0, 0) : keys.send(archive, keyChunks);
        return new Report(roots.size(), sent.get(), bytes.get(), present, mounted, keysDone.written(), keysDone.bytesSent(), keysDone.present());
    }

    private static Optional<OciRegistry.EntryTimes> times(Descriptor d) {
        try {
            String pushed = d.annotations().get(LayoutTarget.PUSHED_AT);
            String used = d.annotations().get(LayoutTarget.LAST_USED);
            if (pushed == null || used == null) return Optional.empty();
            return Optional.of(new OciRegistry.EntryTimes(java.time.Instant.parse(pushed), java.time.Instant.parse(used)));
        } catch (java.time.format.DateTimeParseException e) {
            return Optional.empty(); // an annotation Cairn did not write: the entry is as new as its import
        }
    }

    /** The archive's entries, named as the class comment says. */
    private List<Root> roots(LayoutArchive archive, byte[] indexJson) throws IOException {
        Manifest index;
        try {
            index = ManifestParser.parse(indexJson, Optional.of(MediaTypes.OCI_INDEX));
        } catch (RuntimeException e) {
            throw LayoutArchive.bad(archive.toString(), "index.json does not parse: " + e.getMessage());
        }
        if (index.children().isEmpty()) throw LayoutArchive.bad(archive.toString(), "index.json names nothing to import");
        List<Root> roots = new ArrayList<>();
        Map<String, Digest> names = new HashMap<>();
        keyChunks.clear();
        for (Descriptor d : index.children()) {
            if (KeyedLayout.isChunk(d.annotations())) {
                keyChunks.add(d);
                continue;
            }
            Root root = root(archive, d);
            Digest before = names.putIfAbsent(root.name(), d.digest());
            if (before == null) roots.add(root);
            else if (!before.equals(d.digest())) {
                throw LayoutArchive.bad(archive.toString(), "index.json names " + root.name() + " twice, as " + before + " and " + d.digest());
            }
        }
        return roots;
    }

    private Root root(LayoutArchive archive, Descriptor d) throws IOException {
        // containerd and Docker 25's save name the image in full there, and leave ref.name the tag alone
        Optional<String> ref = Optional.ofNullable(d.annotations().get(CONTAINERD_NAME))
                .or(() -> Optional.ofNullable(d.annotations().get(LayoutTarget.REF_NAME))).filter(s -> !s.isBlank());
        return root(archive, ref, d);
    }

    /** Where an entry named {@code ref} goes; a registry's host ({@code docker.io/}, {@code localhost:5000/}) is dropped. */
    Root root(LayoutArchive archive, Optional<String> ref, Descriptor d) throws IOException {
        Optional<String> repository = Optional.empty();
        Optional<Tag> tag = Optional.empty();
        try {
            if (ref.isPresent()) {
                String name = withoutRegistryHost(ref.get());
                int at = name.indexOf('@');
                int colon = name.lastIndexOf(':');
                if (at >= 0) {
                    repository = Optional.of(name.substring(0, at));
                    Digest named = Digest.parse(name.substring(at + 1));
                    if (!named.equals(d.digest())) {
                        throw LayoutArchive.bad(archive.toString(), "the entry named " + name + " is " + d.digest());
                    }
                } else if (colon >= 0) {
                    repository = Optional.of(name.substring(0, colon));
                    tag = Optional.of(new Tag(name.substring(colon + 1)));
                } else {
                    tag = Optional.of(new Tag(name));
                }
            }
            RepositoryName target;
            if (repository.isPresent()) {
                target = RepositoryName.of(prefix.map(p -> p + "/").orElse("") + repository.get());
            } else {
                target = prefix.orElseThrow(() -> LayoutArchive.bad(archive.toString(), "the entry " + ref.orElse(d.digest().toString())
                        + " names no repository; say where it goes with --repo"));
            }
            return new Root(target, tag, d);
        } catch (RuntimeException e) {
            throw LayoutArchive.bad(archive.toString(), "the entry named " + ref.orElse(d.digest().toString()) + " cannot be imported: " + e.getMessage());
        }
    }

    /** A reference's first component is a registry's host when it has a '.' or a ':' or is {@code localhost}, as Docker reads it. */
    static String withoutRegistryHost(String reference) {
        int slash = reference.indexOf('/');
        if (slash < 0) return reference;
        String first = reference.substring(0, slash);
        int at = first.indexOf('@');
        boolean host = at < 0 && (first.contains(".") || first.contains(":") || first.equals("localhost"));
        return host ? reference.substring(slash + 1) : reference;
    }

    /**
     * Plans {@code d} and what it references into {@code plan}: children first, so they are pushed first.
     * {@code made} holds the manifests an import wrote itself (for a docker save archive, which has none).
     */
    private void walk(LayoutArchive archive, Map<Digest, byte[]> made, String name, Descriptor d, Plan plan, Set<Digest> path) throws IOException {
        if (plan.manifests.containsKey(d.digest())) return;
        if (!path.add(d.digest())) throw LayoutArchive.bad(archive.toString(), name + ": " + d.digest() + " names itself");
        Optional<byte[]> found = made.containsKey(d.digest()) ? Optional.of(made.get(d.digest())) : archive.document(d.digest());
        byte[] content = found.orElseThrow(() -> LayoutArchive.bad(archive.toString(),
                name + " needs the manifest " + d.digest() + ", which the archive does not hold"));
        if (content.length != d.size()) {
            throw LayoutArchive.bad(archive.toString(), name + ": " + d.digest() + " holds " + content.length + " bytes where " + d.size() + " are named");
        }
        Manifest manifest;
        try {
            manifest = ManifestParser.parse(content, Optional.of(d.mediaType()).filter(MediaTypes::isSupportedManifest));
        } catch (RuntimeException e) {
            throw LayoutArchive.bad(archive.toString(), name + ": " + d.digest() + " does not parse as a manifest: " + e.getMessage());
        }
        for (Descriptor child : manifest.children()) {
            if (MediaTypes.isSupportedManifest(child.mediaType())) walk(archive, made, name, child, plan, path);
            else need(archive, name, child, plan);
        }
        if (manifest.config().isPresent()) need(archive, name, manifest.config().get(), plan);
        for (Descriptor layer : manifest.layers()) {
            if (!layer.isForeignLayer()) need(archive, name, layer, plan);
        }
        path.remove(d.digest());
        plan.manifests.put(d.digest(), new Document(manifest.mediaType(), content));
    }

    private static void need(LayoutArchive archive, String name, Descriptor blob, Plan plan) throws IOException {
        Optional<Long> held = archive.blobSize(blob.digest());
        if (held.isPresent() && held.get() != blob.size()) {
            throw LayoutArchive.bad(archive.toString(), name + " names " + blob.digest() + " of " + blob.size() + " bytes; the archive's has " + held.get());
        }
        plan.blobs.add(blob.digest());
    }

    /** Reads what an upload left of a blob's stream, so its digest is checked to the end. */
    private static void drain(InputStream content) throws IOException {
        content.transferTo(java.io.OutputStream.nullOutputStream());
    }
}
