package dev.cairn.mirror;

import dev.cairn.config.MirrorRule;
import dev.cairn.metadata.MetadataStore;
import dev.cairn.metadata.StoredManifest;
import dev.cairn.registry.Manifest;
import dev.cairn.registry.ManifestParser;
import dev.cairn.registry.MediaTypes;
import dev.cairn.registry.RepositoryBlobs;
import dev.cairn.registry.RepositoryManifests;
import dev.cairn.values.Descriptor;
import dev.cairn.values.Digest;
import dev.cairn.values.Reference;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.NoSuchFileException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

/**
 * The pull-through mirror's reads (see the package comment). A manifest by digest and a blob are fetched once and
 * never checked again (their digest is their content). A tag is served from here while its last check by this node is
 * younger than the rule's TTL; after that a HEAD asks the upstream where it points now (rate limits do not count
 * HEADs), and only a tag that moved is fetched again. Requests for one tag at once share one check, and requests
 * for one blob share one fetch ({@link BlobFetches}). When the upstream fails, a tag held here is served for up to
 * {@code max-stale} after the upstream last confirmed it (or after it was fetched, on a node that has not checked
 * it since it started), marked stale; anything else gets the upstream's failure as an error at once. An image
 * manifest fetched brings its blobs in behind it, so the whole image is here for the next runner (and for the day
 * the upstream is down) whichever layers the first client already had.
 */
public final class Mirror {
    private static final Logger log = LoggerFactory.getLogger(Mirror.class);
    /** Tags whose last check a node remembers; past it, the memory starts again (each tag then costs one HEAD). */
    private static final int REMEMBERED_CHECKS = 100_000;
    /**
     * How long an upstream that failed is left alone (the rule's TTL if shorter; longer when it asked for it with
     * Retry-After, up to five minutes).
     */
    private static final Duration BACK_OFF = Duration.ofSeconds(30);
    private static final Duration LONGEST_BACK_OFF = Duration.ofMinutes(5);

    /** What the mirror tells metrics. */
    public interface Events {
        /** A manifest answered: {@code how} is cached, fetched or stale. */
        void served(String prefix, String how);

        /** The upstream failed: {@code reason} is unreachable, rate-limited, server-error or refused. */
        void upstreamFailed(String prefix, String reason);

        void bytesFetched(String prefix, long bytes);

        Events NONE = new Events() {
            @Override
            public void served(String prefix, String how) {
            }

            @Override
            public void upstreamFailed(String prefix, String reason) {
            }

            @Override
            public void bytesFetched(String prefix, long bytes) {
            }
        };
    }

    /**
     * What a manifest read answers: the manifest held here, or (a HEAD of something not held) the upstream's description
     * of it; stale when the upstream failed, with when it last confirmed the tag.
     */
    public record ServedManifest(Optional<StoredManifest> manifest, Optional<Upstream.Description> description, Optional<Instant> staleSince) {
    }

    /** A blob coming in from the upstream: its length and its bytes as they arrive. */
    public record IncomingBlob(long length, InputStream content) {
    }

    /** One rule with its upstream client and its counters. */
    private static final class Route {
        final MirrorRule rule;
        final Upstream upstream;
        final AtomicLong cached = new AtomicLong();
        final AtomicLong fetched = new AtomicLong();
        final AtomicLong stale = new AtomicLong();
        final AtomicLong failures = new AtomicLong();
        final AtomicLong bytesFetched = new AtomicLong();
        final AtomicReference<String> lastFailure = new AtomicReference<>();
        final AtomicReference<Instant> lastFailureAt = new AtomicReference<>();
        /** Until when the upstream is taken for down after a failure: asked nothing, so a stale answer costs no timeout. */
        final AtomicReference<Instant> downUntil = new AtomicReference<>(Instant.MIN);
        final AtomicReference<UpstreamFailure> lastFailureCause = new AtomicReference<>();
        /** The failure noted last, so that one shared by many requests is counted once. */
        final AtomicReference<IOException> lastNoted = new AtomicReference<>();

        Route(MirrorRule rule, Upstream upstream) {
            this.rule = rule;
            this.upstream = upstream;
        }

        String prefix() {
            return rule.prefix();
        }
    }

    private final List<Route> routes = new ArrayList<>();
    /** The default mirror's (prefix ""), when there is one: the repositories outside the other prefixes that are not the clients'. */
    private final Optional<Route> fallback;
    private final java.util.function.Predicate<RepositoryName> clientsPush;
    /** Whether access rules let clients push to a repository, by name, as asked (the rules do not change while running). */
    private final ConcurrentHashMap<String, Boolean> pushedByRule = new ConcurrentHashMap<>();
    /** Whose each repository is, once decided (it never changes: see {@link MetadataStore#repositoryMirrored}); true for a mirror's. */
    private final ConcurrentHashMap<String, Boolean> origins = new ConcurrentHashMap<>();
    private final RepositoryManifests manifests;
    private final RepositoryBlobs blobs;
    private final MetadataStore metadata;
    private final BlobFetches fetches;
    private final Events events;
    private final Clock clock;
    /** When this node last heard from the upstream where a tag points, by "repository:tag". */
    private final ConcurrentHashMap<String, Instant> checked = new ConcurrentHashMap<>();
    /** Checks and fetches under way, by what they are of ("GET repository:tag", "GET repository@digest"): requests at once share one. */
    private final ConcurrentHashMap<String, CompletableFuture<Object>> inFlight = new ConcurrentHashMap<>();
    private final long maxManifestBytes;
    /** How many of an image's blobs are fetched at once behind its manifest (dockerd's max-concurrent-downloads). */
    private static final int PREFETCHES_PER_IMAGE = 3;
    /** Images whose blobs are being brought in behind their manifest, at most two at once. */
    private final Semaphore prefetching = new Semaphore(2);

    /**
     * {@code clientsPush}: whether access rules let some client push to a repository. Such a name is the clients'
     * and the default mirror does not answer for it, unless its rule lists the name (so a user who may only pull
     * cannot make a name its pushers write to the mirror's by pulling it first).
     */
    public Mirror(List<MirrorRule> rules, Function<MirrorRule, Upstream> upstreams, RepositoryManifests manifests, RepositoryBlobs blobs,
                  MetadataStore metadata, BlobFetches fetches, Events events, Clock clock, long maxManifestBytes,
                  java.util.function.Predicate<RepositoryName> clientsPush) {
        this.clientsPush = clientsPush;
        this.maxManifestBytes = maxManifestBytes;
        Route fallback = null;
        for (MirrorRule rule : rules) {
            Route r = new Route(rule, upstreams.apply(rule));
            if (rule.isDefault()) fallback = r;
            else routes.add(r);
        }
        this.fallback = Optional.ofNullable(fallback);
        this.manifests = manifests;
        this.blobs = blobs;
        this.metadata = metadata;
        this.fetches = fetches;
        this.events = events;
        this.clock = clock;
    }

    /**
     * The rule whose upstream answers {@code repository}'s reads, when one does: the rule whose prefix it lies under,
     * else the default mirror's for a name its rule lists, or, when it lists none, for a name access rules let no
     * client push to and that clients did not push into first (a repository that holds pushed images is theirs, and
     * its misses are misses).
     */
    public Optional<MirrorRule> ruleFor(RepositoryName repository) {
        return route(repository).map(r -> r.rule);
    }

    /**
     * The rule that makes {@code repository} read-only, when one does: one whose prefix it lies under, the default
     * mirror's for a name its rule lists, or, when it lists none, the default mirror's once the repository holds what
     * it fetched. Otherwise a repository nothing was written into yet takes pushes, and is the clients' from then on.
     */
    public Optional<MirrorRule> refusesWrites(RepositoryName repository) {
        for (Route r : routes) {
            if (r.rule.upstreamName(repository).isPresent()) return Optional.of(r.rule);
        }
        return fallback.filter(f -> f.rule.upstreamName(repository).isPresent()
                && (f.rule.namesListed() || !clientsPush(repository) && origin(repository).orElse(false))).map(f -> f.rule);
    }

    private Optional<Route> route(RepositoryName repository) {
        for (Route r : routes) {
            if (r.rule.upstreamName(repository).isPresent()) return Optional.of(r);
        }
        // the names its rule lists are the default mirror's whatever was written there; otherwise a name clients may
        // push to, or did push to first, is theirs
        return fallback.filter(f -> f.rule.upstreamName(repository).isPresent()
                && (f.rule.namesListed() || !clientsPush(repository) && origin(repository).orElse(true)));
    }

    private boolean clientsPush(RepositoryName repository) {
        Boolean known = pushedByRule.get(repository.value());
        if (known != null) return known;
        boolean pushed = clientsPush.test(repository);
        remember(pushedByRule, repository.value(), pushed);
        return pushed;
    }

    /** Whether the default mirror asks whose a repository is before it fetches into it (not for the names its rule lists). */
    private static boolean decidedByFirstWrite(Route route) {
        return route.rule.isDefault() && !route.rule.namesListed();
    }

    /** Whose the repository is (true: a mirror's), once anything was written into it; remembered, as it never changes. */
    private Optional<Boolean> origin(RepositoryName repository) {
        Boolean known = origins.get(repository.value());
        if (known != null) return Optional.of(known);
        Optional<Boolean> decided = metadata.repositoryMirrored(repository);
        decided.ifPresent(mirrored -> remember(origins, repository.value(), mirrored));
        return decided;
    }

    /**
     * Before the default mirror writes into a repository: makes it a mirror's if nothing was written into it yet;
     * refuses when clients' pushes got there first (they made it theirs while the upstream was asked).
     */
    private void claim(Route route, RepositoryName repository) {
        if (!decidedByFirstWrite(route) || origin(repository).orElse(false)) return;
        boolean mirrored = metadata.claimForMirror(repository);
        remember(origins, repository.value(), mirrored);
        if (!mirrored) {
            throw new Refusal(Refusal.Reason.MANIFEST_NOT_FOUND, repository + " holds pushed images, so the default mirror does not "
                    + "answer for it", Map.of());
        }
    }

    /**
     * The manifest for a GET of a mirrored repository, or what a HEAD answers: from here, or from the upstream (see the
     * class comment). A HEAD of something not held here is answered from the upstream's HEAD and stores nothing (tools
     * that poll digests must not pull images nor spend the upstream's rate limit on manifest GETs).
     */
    public Optional<ServedManifest> manifest(RepositoryName repository, Reference reference, boolean headOnly) {
        // a repository clients pushed into since the caller looked is theirs: answered from what it holds
        Optional<Route> found = route(repository);
        if (found.isEmpty()) return Optional.empty();
        return Optional.of(manifest(found.get(), repository, reference, headOnly));
    }

    private ServedManifest manifest(Route route, RepositoryName repository, Reference reference, boolean headOnly) {
        RepositoryName upstreamName = route.rule.upstreamName(repository).orElseThrow();
        Instant now = clock.instant();
        String key = repository + ":" + reference;
        Instant lastChecked = checked.get(key);
        // what needs no word from the upstream (a digest, a tag checked within its TTL) is one read, as any pull is;
        // gone since (evicted), it is fetched again below
        if (reference instanceof Reference.ByDigest || (lastChecked != null && now.isBefore(lastChecked.plus(route.rule.ttl())))) {
            try {
                return cached(route, repository, reference);
            } catch (Refusal notHere) {
                if (notHere.reason() != Refusal.Reason.MANIFEST_NOT_FOUND) throw notHere;
            }
        }
        Optional<StoredManifest> local = manifests.find(repository, reference);
        if (reference instanceof Reference.ByDigest(Digest digest)) {
            if (local.isPresent()) return cached(route, repository, reference);
            try {
                resting(route, now);
                if (headOnly) {
                    Optional<Upstream.Description> d = route.upstream.describe(upstreamName, reference);
                    // an upstream whose HEAD leaves out the type or size: the HEAD is answered as a GET would be
                    if (d.isEmpty() || d.get().complete()) return described(route, upstreamName, reference, d);
                }
                once("GET " + repository + "@" + digest, () -> fetchAndStore(route, repository, upstreamName, digest, Optional.empty()));
            } catch (IOException e) {
                throw failed(route, e, "the manifest " + digest, Refusal.Reason.MANIFEST_NOT_FOUND);
            }
            return fetched(route, repository, reference);
        }
        Tag tag = ((Reference.ByTag) reference).tag();
        Optional<Digest> localDigest = local.map(StoredManifest::digest);
        Optional<Upstream.Description> current;
        boolean stored;
        try {
            resting(route, now);
            Optional<Upstream.Description> described = headOnly ? once("HEAD " + key, () -> route.upstream.describe(upstreamName, reference))
                    : Optional.empty();
            if (headOnly && (described.isEmpty() || described.get().complete()
                    || localDigest.map(d -> d.equals(described.get().digest())).orElse(false))) {
                current = described;
                stored = false;
            } else {
                // one check and, for a tag that moved, one fetch, however many ask at once (each manifest GET is a pull
                // against the upstream's rate limit, and a large one held once per request ran the heap out)
                current = once("GET " + key, () -> {
                    Optional<Upstream.Description> found = route.upstream.describe(upstreamName, reference);
                    if (found.isPresent() && !found.get().digest().equals(manifests.find(repository, reference).map(StoredManifest::digest).orElse(null))) {
                        // the document once however many tags name it (each tag then points at what is stored)
                        Digest digest = found.get().digest();
                        Reference byDigest = new Reference.ByDigest(digest);
                        once("GET " + repository + "@" + digest, () -> {
                            if (manifests.find(repository, byDigest).isEmpty()) fetchAndStore(route, repository, upstreamName, digest, Optional.empty());
                        });
                        StoredManifest document = manifests.find(repository, byDigest).orElseThrow(() -> UpstreamFailure.badContent(
                                "the manifest " + upstreamName + "@" + digest + " went before its tag " + tag + " could name it"));
                        claim(route, repository);
                        manifests.putMirrored(repository, Optional.of(tag), document.mediaType(), document.content());
                    }
                    if (found.isPresent()) remember(key, clock.instant());
                    return found;
                });
                stored = current.isPresent();
            }
        } catch (IOException e) {
            UpstreamFailure failure = noteFailure(route, e);
            if (local.isPresent() && !failure.badContent()) {
                Instant lastGood = lastChecked != null ? lastChecked : local.get().pushedAt();
                if (!now.isAfter(lastGood.plus(route.rule.maxStale()))) {
                    route.stale.incrementAndGet();
                    events.served(route.prefix(), "stale");
                    log.warn("mirror {}: serving {} stale (the upstream last confirmed it at {}): {}", route.prefix(), key, lastGood,
                            failure.getMessage());
                    return new ServedManifest(Optional.of(manifests.getManifest(repository, reference)), Optional.empty(), Optional.of(lastGood));
                }
            }
            throw refusal(failure, "the tag " + upstreamName + ":" + tag, Refusal.Reason.MANIFEST_NOT_FOUND);
        }
        if (current.isEmpty()) {
            throw new Refusal(Refusal.Reason.MANIFEST_NOT_FOUND, "the upstream " + route.rule.upstream().url() + " has no tag "
                    + upstreamName + ":" + tag, Map.of("reference", tag.value()));
        }
        if (localDigest.isPresent() && localDigest.get().equals(current.get().digest())) {
            remember(key, now);
            return cached(route, repository, reference);
        }
        if (!stored) return described(route, upstreamName, reference, current);
        return fetched(route, repository, reference);
    }

    /** The upstream's last failure, while it is left alone after it (see {@link #BACK_OFF}). */
    private static final class Resting extends IOException {
        final UpstreamFailure cause;

        Resting(UpstreamFailure cause) {
            super(cause.getMessage(), cause);
            this.cause = cause;
        }
    }

    /** Throws the last failure while the upstream is left alone after it. */
    private static void resting(Route route, Instant now) throws Resting {
        UpstreamFailure last = route.lastFailureCause.get();
        if (last != null && now.isBefore(route.downUntil.get())) throw new Resting(last);
    }

    private ServedManifest cached(Route route, RepositoryName repository, Reference reference) {
        route.cached.incrementAndGet();
        events.served(route.prefix(), "cached");
        return new ServedManifest(Optional.of(manifests.getManifest(repository, reference)), Optional.empty(), Optional.empty());
    }

    private ServedManifest fetched(Route route, RepositoryName repository, Reference reference) {
        route.fetched.incrementAndGet();
        events.served(route.prefix(), "fetched");
        return new ServedManifest(Optional.of(manifests.getManifest(repository, reference)), Optional.empty(), Optional.empty());
    }

    /** A HEAD answered from the upstream's own. */
    private ServedManifest described(Route route, RepositoryName upstreamName, Reference reference, Optional<Upstream.Description> description) {
        Upstream.Description d = description.orElseThrow(() -> new Refusal(Refusal.Reason.MANIFEST_NOT_FOUND, "the upstream "
                + route.rule.upstream().url() + " has no manifest " + upstreamName + ":" + reference, Map.of("reference", reference.toString())));
        events.served(route.prefix(), "described");
        return new ServedManifest(Optional.empty(), Optional.of(d), Optional.empty());
    }

    private void remember(String key, Instant at) {
        remember(checked, key, at);
    }

    private static <V> void remember(ConcurrentHashMap<String, V> memory, String key, V value) {
        if (memory.size() >= REMEMBERED_CHECKS) memory.clear();
        memory.put(key, value);
    }

    private interface Work<T> {
        T run() throws IOException;
    }

    private interface VoidWork {
        void run() throws IOException;
    }

    private void once(String key, VoidWork work) throws IOException {
        once(key, () -> {
            work.run();
            return Boolean.TRUE;
        });
    }

    /** One run of {@code work} under {@code key} at a time; those who ask meanwhile get its answer (or its failure). */
    @SuppressWarnings("unchecked")
    private <T> T once(String key, Work<T> work) throws IOException {
        CompletableFuture<Object> mine = new CompletableFuture<>();
        CompletableFuture<Object> running = inFlight.putIfAbsent(key, mine);
        if (running == null) {
            try {
                mine.complete(work.run());
            } catch (IOException | RuntimeException | Error e) {
                mine.completeExceptionally(e);
            } finally {
                inFlight.remove(key, mine);
            }
            running = mine;
        }
        try {
            return (T) running.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while waiting for " + key);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) throw io;
            if (e.getCause() instanceof RuntimeException r) throw r;
            if (e.getCause() instanceof Error err) throw err;
            throw new IOException(e.getCause());
        }
    }

    /** The manifest {@code digest} from the upstream, checked and stored (under {@code tag} when given), its image's blobs following. */
    private void fetchAndStore(Route route, RepositoryName repository, RepositoryName upstreamName, Digest digest, Optional<Tag> tag)
            throws IOException {
        Upstream.Manifest fetched = route.upstream.manifest(upstreamName, new Reference.ByDigest(digest))
                .orElseThrow(() -> new Refusal(Refusal.Reason.MANIFEST_NOT_FOUND, "the upstream " + route.rule.upstream().url()
                        + " has no manifest " + upstreamName + "@" + digest, Map.of("reference", digest.toString())));
        Digest actual = digest.algorithm().equals("sha256") ? Digest.sha256(fetched.content())
                : Digest.of(digest.algorithm(), digest.newHasher().digest(fetched.content()));
        if (!actual.equals(digest)) {
            throw UpstreamFailure.badContent("the upstream's manifest " + upstreamName + "@" + digest + " hashes to " + actual);
        }
        if (fetched.content().length > maxManifestBytes) {
            throw UpstreamFailure.badContent("the upstream's manifest " + upstreamName + "@" + digest + " holds " + fetched.content().length
                    + " bytes, more than this Cairn keeps (" + maxManifestBytes + ")");
        }
        Manifest manifest;
        try {
            manifest = ManifestParser.parse(fetched.content(), Optional.of(fetched.mediaType()));
        } catch (Refusal e) {
            throw UpstreamFailure.badContent("the upstream's manifest " + upstreamName + "@" + digest + " does not parse: " + e.getMessage());
        }
        claim(route, repository);
        manifests.putMirrored(repository, tag, fetched.mediaType(), fetched.content());
        route.bytesFetched.addAndGet(fetched.content().length);
        events.bytesFetched(route.prefix(), fetched.content().length);
        if (!MediaTypes.INDEXES.contains(manifest.mediaType())) bringInBlobs(route, repository, upstreamName, manifest);
    }

    /**
     * An image's config and layers fetched behind its manifest on a thread of their own, a few at once as runtimes
     * pull them, in the order a client reads them: these fetches keep ahead of a client reading the image blob by
     * blob, so it seldom waits for the upstream to answer.
     */
    private void bringInBlobs(Route route, RepositoryName repository, RepositoryName upstreamName, Manifest manifest) {
        List<Descriptor> wanted = new ArrayList<>();
        manifest.config().ifPresent(wanted::add);
        for (Descriptor layer : manifest.layers()) if (!layer.isForeignLayer()) wanted.add(layer);
        if (wanted.isEmpty() || !prefetching.tryAcquire()) return; // busy: what clients read still comes in as they read it
        Thread.ofVirtual().name("cairn-mirror-prefetch").start(() -> {
            try {
                java.util.ArrayDeque<BlobFetches.Fetch> inFlight = new java.util.ArrayDeque<>();
                for (Descriptor d : wanted) {
                    if (metadata.isBlobLinked(repository, d.digest())) continue;
                    try {
                        if (linkedFromStore(route, repository, upstreamName, d.digest())) continue;
                    } catch (IOException e) {
                        noteFailure(route, e);
                        return;
                    }
                    if (inFlight.size() == PREFETCHES_PER_IMAGE && !arrived(route, repository, inFlight.poll())) return;
                    inFlight.add(fetches.fetch(repository, d.digest(), () -> route.upstream.blob(upstreamName, d.digest()),
                            () -> metadata.isBlobLinked(repository, d.digest()), n -> fetchedBytes(route, n)));
                }
                while (!inFlight.isEmpty()) {
                    if (!arrived(route, repository, inFlight.poll())) return;
                }
            } catch (RuntimeException e) {
                log.warn("mirror {}: bringing in the blobs of {} failed: {}", route.prefix(), repository, e.getMessage());
            } finally {
                prefetching.release();
            }
        });
    }

    /**
     * Waits until a fetch's bytes are in (their store goes on behind, and links them); false, logged, when it failed.
     * One that had ended before it was joined is linked here.
     */
    private boolean arrived(Route route, RepositoryName repository, BlobFetches.Fetch f) {
        if (!f.awaitArrival()) {
            log.info("mirror {}: bringing in the blobs of {} stopped at {}, which failed", route.prefix(), repository, f.digest());
            return false;
        }
        if (f.hasEnded() && !metadata.isBlobLinked(repository, f.digest())) blobs.mount(repository, f.digest(), f.storedIn());
        return true;
    }

    private void fetchedBytes(Route route, long n) {
        route.bytesFetched.addAndGet(n);
        events.bytesFetched(route.prefix(), n);
    }

    /**
     * A blob of a mirrored repository: empty when the repository holds it (serve it as any blob), else its bytes as
     * they come in from the upstream (one fetch however many ask).
     */
    public Optional<IncomingBlob> blob(RepositoryName repository, Digest digest) {
        if (metadata.isBlobLinked(repository, digest)) return Optional.empty();
        Optional<Route> found = route(repository);
        if (found.isEmpty()) return Optional.empty(); // the clients' since the caller looked: answered from what it holds
        Route route = found.get();
        // under the default mirror, blobs come from the upstream only into a repository that holds its images (a pull
        // reads the manifest first); anything else is answered from here, as a push asking what it must send needs
        if (decidedByFirstWrite(route) && !origin(repository).orElse(false)) return Optional.empty();
        RepositoryName upstreamName = route.rule.upstreamName(repository).orElseThrow();
        try {
            resting(route, clock.instant());
            if (linkedFromStore(route, repository, upstreamName, digest)) return Optional.empty();
        } catch (IOException e) {
            throw failed(route, e, "the blob " + digest, Refusal.Reason.BLOB_NOT_FOUND);
        }
        BlobFetches.Fetch f = fetches.fetch(repository, digest, () -> route.upstream.blob(upstreamName, digest),
                () -> metadata.isBlobLinked(repository, digest), n -> fetchedBytes(route, n));
        long length;
        try {
            length = f.awaitLength();
            // an empty body is whole only if the digest is the empty blob's: nothing goes out before the check
            if (length == 0) f.awaitWhole();
        } catch (IOException e) {
            throw failed(route, e, "the blob " + digest, Refusal.Reason.BLOB_NOT_FOUND);
        }
        try {
            return Optional.of(new IncomingBlob(length, f.read()));
        } catch (NoSuchFileException ended) {
            // it finished between the two: it is stored, and served from here
            try {
                f.awaitWhole(); // what ended the fetch, if it failed
            } catch (IOException failure) {
                throw failed(route, failure, "the blob " + digest, Refusal.Reason.BLOB_NOT_FOUND);
            }
            if (!metadata.isBlobLinked(repository, digest)) blobs.mount(repository, digest, f.storedIn());
            return Optional.empty();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** A mirrored repository's tags: a page of the upstream's list, or, while it fails, of those held here (stale). */
    public record TagListing(List<String> tags, boolean more, boolean stale) {
    }

    /**
     * The tags of a mirrored repository as its upstream lists them (a mirror's repository holds what the upstream
     * holds, not only what was pulled through it); while the upstream fails, those held here, marked stale. Empty when
     * the repository is not mirrored or the upstream does not hold it: what is held here answers then.
     */
    public Optional<TagListing> tags(RepositoryName repository, Optional<String> last, int n) {
        Optional<Route> found = route(repository);
        if (found.isEmpty()) return Optional.empty();
        Route route = found.get();
        RepositoryName upstreamName = route.rule.upstreamName(repository).orElseThrow();
        try {
            resting(route, clock.instant());
            return route.upstream.tags(upstreamName, last, n).map(p -> new TagListing(p.tags(), p.more(), false));
        } catch (IOException e) {
            UpstreamFailure failure = noteFailure(route, e);
            dev.cairn.registry.Page held;
            try {
                held = manifests.tags(repository, last, java.util.OptionalLong.of(n));
            } catch (Refusal nothingHere) {
                held = new dev.cairn.registry.Page(List.of(), Optional.empty());
            }
            if (held.items().isEmpty() && last.isEmpty()) throw refusal(failure, "the tags of " + upstreamName, Refusal.Reason.REPOSITORY_NOT_FOUND);
            return Optional.of(new TagListing(held.items(), held.next().isPresent(), true));
        }
    }

    /**
     * The descriptors of a mirrored manifest's referrers (signatures, attestations) as its upstream lists them; empty
     * when the repository is not mirrored, the upstream has no referrers API, or it fails: what is held here answers then.
     */
    public Optional<List<Map<String, Object>>> referrers(RepositoryName repository, Digest subject, Optional<String> artifactType) {
        Optional<Route> found = route(repository);
        if (found.isEmpty()) return Optional.empty();
        Route route = found.get();
        try {
            resting(route, clock.instant());
            return route.upstream.referrers(route.rule.upstreamName(repository).orElseThrow(), subject, artifactType);
        } catch (IOException e) {
            noteFailure(route, e);
            return Optional.empty();
        }
    }

    /**
     * Links a blob the store holds for another repository into this one, once the upstream says (a HEAD) that it
     * holds the blob there too; false when the store holds no copy, or the upstream does not say so. Without that
     * word a copy is not shared: a digest is no proof that a client may read a blob another mirror fetched.
     */
    private boolean linkedFromStore(Route route, RepositoryName repository, RepositoryName upstreamName, Digest digest) throws IOException {
        if (!metadata.blobRecordExists(digest)) return false;
        if (route.upstream.blobLength(upstreamName, digest).isEmpty()) return false;
        return blobs.linkStored(repository, digest).isPresent();
    }

    /**
     * What a HEAD of a mirrored repository's blob is answered with when the blob is not held there: its length as
     * the upstream's HEAD tells it, fetching nothing (or linking a copy held for another repository, as a GET would);
     * empty when it is held here, or the upstream does not tell the length (a GET's answer serves then).
     */
    public java.util.OptionalLong blobLength(RepositoryName repository, Digest digest) {
        if (metadata.isBlobLinked(repository, digest)) return java.util.OptionalLong.empty();
        Optional<Route> found = route(repository);
        if (found.isEmpty()) return java.util.OptionalLong.empty();
        Route route = found.get();
        if (decidedByFirstWrite(route) && !origin(repository).orElse(false)) return java.util.OptionalLong.empty();
        RepositoryName upstreamName = route.rule.upstreamName(repository).orElseThrow();
        Optional<Long> length;
        try {
            resting(route, clock.instant());
            length = route.upstream.blobLength(upstreamName, digest);
            if (length.isPresent() && metadata.blobRecordExists(digest) && blobs.linkStored(repository, digest).isPresent()) {
                return java.util.OptionalLong.empty();
            }
        } catch (IOException e) {
            throw failed(route, e, "the blob " + digest, Refusal.Reason.BLOB_NOT_FOUND);
        }
        if (length.isEmpty()) {
            throw new Refusal(Refusal.Reason.BLOB_NOT_FOUND, "the upstream " + route.rule.upstream().url() + " has no blob " + digest
                    + " in " + upstreamName, Map.of("digest", digest.toString()));
        }
        return length.get() < 0 ? java.util.OptionalLong.empty() : java.util.OptionalLong.of(length.get());
    }

    /** Counts and logs an upstream's failure; the failure, as an {@link UpstreamFailure}. */
    private UpstreamFailure noteFailure(Route route, IOException e) {
        if (e instanceof Resting r) return r.cause;
        // requests that shared one check or fetch ({@link #once}) get one failure: it is counted and logged once
        if (route.lastNoted.getAndSet(e) == e) return e instanceof UpstreamFailure u ? u : route.lastFailureCause.get();
        UpstreamFailure failure = e instanceof UpstreamFailure u ? u : new UpstreamFailure(e.getMessage(), 0, Optional.empty(), e);
        if (!failure.badContent() && (failure.status() == 0 || failure.status() >= 500 || failure.rateLimited())) {
            // down, broken or rate-limiting: leave it alone a while, so what is held here is served without waiting on it
            Duration shortest = route.rule.ttl().compareTo(BACK_OFF) < 0 ? route.rule.ttl() : BACK_OFF;
            Duration rest = failure.retryAfter().filter(d -> d.compareTo(shortest) > 0)
                    .map(d -> d.compareTo(LONGEST_BACK_OFF) < 0 ? d : LONGEST_BACK_OFF).orElse(shortest);
            route.lastFailureCause.set(failure);
            route.downUntil.set(clock.instant().plus(rest));
        }
        String reason = failure.badContent() ? "bad-content" : failure.rateLimited() ? "rate-limited" : failure.status() >= 500 ? "server-error"
                : failure.status() == 0 ? "unreachable" : "refused";
        route.failures.incrementAndGet();
        route.lastFailure.set(failure.getMessage());
        route.lastFailureAt.set(clock.instant());
        events.upstreamFailed(route.prefix(), reason);
        log.warn("mirror {}: the upstream {} failed ({}): {}", route.prefix(), route.rule.upstream().url(), reason, failure.getMessage());
        return failure;
    }

    private RuntimeException failed(Route route, IOException e, String what, Refusal.Reason notFound) {
        if (e instanceof LocalStoreFailure local) {
            // this node's disk or database: the upstream is not taken for down, and clients are told no local paths
            log.warn("mirror {}: keeping {} failed here: {}", route.prefix(), what, local.getMessage(), local);
            return new Refusal(Refusal.Reason.UPSTREAM_UNAVAILABLE, "this Cairn could not keep " + what + " from its mirror's upstream; "
                    + "its log says why", Map.of());
        }
        return refusal(noteFailure(route, e), what, notFound);
    }

    /**
     * What a client is told when the upstream failed for something not held here: 429 when it rate-limits; {@code notFound}
     * when it refused access (401, 403: how registries such as Docker Hub answer for a repository they do not have, which
     * is every new repository of a client's that asks the default mirror first); 503 otherwise.
     */
    private static Refusal refusal(UpstreamFailure failure, String what, Refusal.Reason notFound) {
        Map<String, Object> detail = new LinkedHashMap<>();
        if (failure.status() == 401 || failure.status() == 403) {
            return new Refusal(notFound, "the mirror's upstream refused " + what + " (" + failure.getMessage() + "), and it is not cached here",
                    detail);
        }
        failure.retryAfter().ifPresent(d -> detail.put("retryAfterSeconds", d.toSeconds()));
        if (failure.rateLimited()) {
            return new Refusal(Refusal.Reason.UPSTREAM_RATE_LIMITED, "the mirror's upstream rate-limits, and " + what
                    + " is not cached here: " + failure.getMessage(), detail);
        }
        return new Refusal(Refusal.Reason.UPSTREAM_UNAVAILABLE, "the mirror's upstream failed, and " + what + " is not cached here: "
                + failure.getMessage(), detail);
    }

    /** Per mirror: what it served, fetched and failed, for /api/v1/stats. */
    public List<Map<String, Object>> stats() {
        List<Map<String, Object>> rows = new ArrayList<>();
        List<Route> all = new ArrayList<>(routes);
        fallback.ifPresent(all::add);
        for (Route r : all) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("prefix", r.prefix());
            row.put("upstream", r.rule.upstream().url().toString());
            row.put("cached", r.cached.get());
            row.put("fetched", r.fetched.get());
            row.put("stale", r.stale.get());
            row.put("bytesFetched", r.bytesFetched.get());
            row.put("upstreamFailures", r.failures.get());
            row.put("lastFailure", r.lastFailure.get());
            row.put("lastFailureAt", Optional.ofNullable(r.lastFailureAt.get()).map(Instant::toString).orElse(null));
            rows.add(row);
        }
        return rows;
    }

    /** How long ago the upstream last confirmed what was served, in whole seconds (for the stale answer's header). */
    public long ageSeconds(Instant since) {
        return Math.max(0, Duration.between(since, clock.instant()).toSeconds());
    }
}
