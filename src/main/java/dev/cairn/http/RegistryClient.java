package dev.cairn.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cairn.registry.MediaTypes;
import dev.cairn.transfer.OciRegistry;
import dev.cairn.values.Digest;
import dev.cairn.values.Reference;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A client of the OCI Distribution API, for the commands that move caches between registries and files.
 * Credentials go as Basic; where the registry asks for a bearer token instead ({@code WWW-Authenticate: Bearer
 * realm=...}), the token is fetched from the realm with those credentials for the scope the challenge names,
 * and kept per scope. Redirects of blob reads (a presigned S3 URL) are followed without the credentials, which
 * are the registry's and not the storage's to see.
 */
public final class RegistryClient implements OciRegistry, dev.cairn.transfer.KeyedCaches {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MANIFEST_TYPES = String.join(", ", MediaTypes.OCI_MANIFEST, MediaTypes.OCI_INDEX,
            MediaTypes.DOCKER_MANIFEST, MediaTypes.DOCKER_MANIFEST_LIST);
    private static final Pattern NEXT_LINK = Pattern.compile("<([^>]+)>\\s*;\\s*rel=\"?next\"?");
    private static final Pattern CHALLENGE_PARAM = Pattern.compile("(\\w+)=\"([^\"]*)\"");
    private static final int PAGE = 1000;
    /** The largest manifest or page of a listing read from a registry: twice the default manifest limit. */
    private static final int MAX_DOCUMENT = 32 << 20;
    /** How long a request may take to be answered (its headers) by default: a transfer's large uploads take long. */
    private static final Duration TRANSFER_TIMEOUT = Duration.ofMinutes(30);

    private final URI base;
    private final Optional<String> basic;
    private final HttpClient http;
    private final Duration requestTimeout;
    /** The largest manifest read from the registry; a larger one is refused as it arrives. */
    private final int maxManifestBytes;
    /** Whether a redirect may lead to a loopback or private address that the registry itself is not at (a mirror's upstream). */
    private final boolean redirectsStayOut;
    /**
     * Whether the Basic credentials wait until the registry asks for them (a {@code WWW-Authenticate: Basic} challenge),
     * as Docker clients do; else they go with every request (fewer round trips between Cairns).
     */
    private final boolean credentialsWhenAsked;
    /** Whether the registry has asked for Basic credentials (see {@link #credentialsWhenAsked}). */
    private volatile boolean basicAsked;
    /** Bearer tokens by the scope they were granted for; a registry without token auth leaves this empty. */
    private final Map<String, String> tokens = new ConcurrentHashMap<>();

    /** {@code server} is {@code http(s)://host[:port]}; {@code user} empty for anonymous access. */
    public RegistryClient(String server, Optional<String> user, String password) {
        this(server, user, password, TRANSFER_TIMEOUT);
    }

    /**
     * A client whose requests give up when not answered within {@code requestTimeout} (and whose connections when
     * not made within it, or 30 s): a mirror's upstream that hangs must fail a pull, not hold it.
     */
    public RegistryClient(String server, Optional<String> user, String password, Duration requestTimeout) {
        this(server, user, password, requestTimeout, MAX_DOCUMENT, false, false);
    }

    /**
     * As above, reading manifests of at most {@code maxManifestBytes}; with {@code redirectsStayOut}, a redirect to a
     * loopback, link-local or private address is refused unless the registry itself is at one: a server that fetches
     * for its clients (a mirror) must not be turned by an upstream's redirect against the network it sits in.
     */
    public RegistryClient(String server, Optional<String> user, String password, Duration requestTimeout, long maxManifestBytes,
                          boolean redirectsStayOut, boolean credentialsWhenAsked) {
        this.credentialsWhenAsked = credentialsWhenAsked;
        this.requestTimeout = requestTimeout;
        this.maxManifestBytes = (int) Math.min(maxManifestBytes, MAX_DOCUMENT);
        this.redirectsStayOut = redirectsStayOut;
        // a registry's address is often written with its API's root (http://host:5000/v2/): the paths here start there
        this.base = URI.create(server.replaceAll("/+$", "").replaceFirst("/v2$", "") + "/");
        this.basic = user.filter(u -> !u.isBlank()).map(u -> "Basic " + Base64.getEncoder()
                .encodeToString((u + ":" + password).getBytes(StandardCharsets.UTF_8)));
        this.http = HttpClient.newBuilder().connectTimeout(requestTimeout.compareTo(Duration.ofSeconds(30)) < 0 ? requestTimeout : Duration.ofSeconds(30))
                .followRedirects(HttpClient.Redirect.NEVER).build();
    }

    @Override
    public List<RepositoryName> repositories() throws IOException {
        List<RepositoryName> names = new ArrayList<>();
        for (JsonNode page : pages("v2/_catalog?n=" + PAGE, "repositories", "registry:catalog:*")) {
            page.forEach(n -> names.add(RepositoryName.of(n.asText())));
        }
        return names;
    }

    @Override
    public List<Tag> tags(RepositoryName repository) throws IOException {
        List<Tag> tags = new ArrayList<>();
        for (JsonNode page : pages("v2/" + repository.value() + "/tags/list?n=" + PAGE, "tags", scopeOf(repository))) {
            page.forEach(n -> tags.add(new Tag(n.asText())));
        }
        return tags;
    }

    /** One page of a registry's tag list: the names, and whether another page follows. */
    public record TagPage(List<String> tags, boolean more) {
    }

    /**
     * One page of the repository's tags after {@code last}, at most {@code n} (a registry may send fewer); empty when
     * the registry does not hold the repository (404). Names that are not tags are left out.
     */
    public Optional<TagPage> tagPage(RepositoryName repository, Optional<String> last, int n) throws IOException {
        String path = "v2/" + repository.value() + "/tags/list?n=" + n
                + last.map(l -> "&last=" + URLEncoder.encode(l, StandardCharsets.UTF_8)).orElse("");
        HttpResponse<byte[]> response = bounded(send(get(path), scopeOf(repository), HttpResponse.BodyHandlers.ofInputStream()), MAX_DOCUMENT, "GET /" + path);
        if (response.statusCode() == 404) return Optional.empty();
        if (response.statusCode() != 200) {
            throw failure(response.statusCode(), "GET /" + path, new String(response.body(), StandardCharsets.UTF_8), response.headers().firstValue("Retry-After"));
        }
        JsonNode list;
        try {
            list = JSON.readTree(response.body()).path("tags");
        } catch (IOException e) {
            throw dev.cairn.mirror.UpstreamFailure.badContent("GET /" + path + " answered something that is not a tag list: " + e.getMessage());
        }
        // registries that do not paginate (Distribution before 3.0) send every tag whatever n and last say: the page is
        // cut here, from the lexical order the API promises
        List<String> tags = new ArrayList<>();
        boolean more = false;
        for (JsonNode name : list) {
            if (!name.isTextual() || last.isPresent() && name.asText().compareTo(last.get()) <= 0) continue;
            if (tags.size() == n) {
                more = true;
                break;
            }
            try {
                tags.add(new Tag(name.asText()).value());
            } catch (RuntimeException notATag) {
                // a name this side could not serve: left out
            }
        }
        more |= response.headers().firstValue("Link").map(NEXT_LINK::matcher).filter(Matcher::find).isPresent() && !tags.isEmpty();
        return Optional.of(new TagPage(tags, more));
    }

    /**
     * The registry's referrers of {@code subject} (those of {@code artifactType} when given, if it filters): their
     * descriptors; empty when it has none to tell of, or no referrers API (404).
     */
    public Optional<List<Map<String, Object>>> referrers(RepositoryName repository, Digest subject, Optional<String> artifactType) throws IOException {
        String path = "v2/" + repository.value() + "/referrers/" + subject
                + artifactType.map(t -> "?artifactType=" + URLEncoder.encode(t, StandardCharsets.UTF_8)).orElse("");
        HttpResponse<byte[]> response = bounded(send(get(path).header("Accept", MediaTypes.OCI_INDEX), scopeOf(repository),
                HttpResponse.BodyHandlers.ofInputStream()), MAX_DOCUMENT, "GET /" + path);
        if (response.statusCode() == 404) return Optional.empty();
        if (response.statusCode() != 200) {
            throw failure(response.statusCode(), "GET /" + path, new String(response.body(), StandardCharsets.UTF_8), response.headers().firstValue("Retry-After"));
        }
        List<Map<String, Object>> found = new ArrayList<>();
        try {
            for (JsonNode d : JSON.readTree(response.body()).path("manifests")) {
                // only a descriptor's own fields, each checked, go on to clients
                Map<String, Object> entry = new java.util.LinkedHashMap<>();
                entry.put("mediaType", d.path("mediaType").asText(MediaTypes.OCI_MANIFEST));
                entry.put("digest", Digest.parse(d.path("digest").asText()).toString());
                entry.put("size", d.path("size").asLong());
                if (d.path("artifactType").isTextual()) entry.put("artifactType", d.get("artifactType").asText());
                if (d.path("annotations").isObject()) entry.put("annotations", JSON.convertValue(d.get("annotations"), Map.class));
                if (artifactType.isPresent() && !artifactType.get().equals(entry.get("artifactType"))) continue;
                found.add(entry);
            }
        } catch (IOException | RuntimeException e) {
            throw dev.cairn.mirror.UpstreamFailure.badContent("GET /" + path + " answered something that is not a referrers index: " + e.getMessage());
        }
        return Optional.of(found);
    }

    /** Every page of a paginated list, following the {@code Link: <...>; rel="next"} headers; none on a 404. */
    private List<JsonNode> pages(String first, String field, String scope) throws IOException {
        List<JsonNode> pages = new ArrayList<>();
        String next = first;
        while (next != null) {
            HttpResponse<byte[]> response = bounded(send(get(next), scope, HttpResponse.BodyHandlers.ofInputStream()), MAX_DOCUMENT, "GET /" + next);
            if (response.statusCode() == 404) return pages;
            expect(response, 200, "GET /" + next);
            JsonNode list = JSON.readTree(response.body()).path(field);
            if (list.isArray()) pages.add(list);
            next = response.headers().firstValue("Link").map(NEXT_LINK::matcher).filter(Matcher::find)
                    .map(m -> m.group(1).replaceFirst("^/", "")).orElse(null);
            if (list.isEmpty()) next = null; // a registry that links past the end would loop forever
        }
        return pages;
    }

    @Override
    public Optional<FetchedManifest> manifest(RepositoryName repository, Reference reference) throws IOException {
        String path = "v2/" + repository.value() + "/manifests/" + reference;
        // Cairn does not count a read marked so as a use (other registries ignore the header): moving a cache
        // leaves its last uses as they were
        HttpResponse<InputStream> streamed = send(get(path).header("Accept", MANIFEST_TYPES).header("Cairn-Read", "transfer"),
                scopeOf(repository), HttpResponse.BodyHandlers.ofInputStream());
        HttpResponse<byte[]> response = bounded(streamed, maxManifestBytes, "GET /" + path);
        if (response.statusCode() == 404) return Optional.empty();
        if (response.statusCode() != 200) {
            throw failure(response.statusCode(), "GET /" + path, new String(response.body(), StandardCharsets.UTF_8),
                    response.headers().firstValue("Retry-After"));
        }
        byte[] content = response.body();
        Digest digest = Digest.sha256(content);
        Optional<String> stated = response.headers().firstValue("Docker-Content-Digest");
        if (reference instanceof Reference.ByDigest byDigest && !byDigest.digest().equals(digest)
                || stated.isPresent() && stated.get().startsWith("sha256:") && !stated.get().equals(digest.toString())) {
            throw dev.cairn.mirror.UpstreamFailure.badContent("the manifest served for " + repository + ":" + reference + " does not match its digest");
        }
        String mediaType = response.headers().firstValue("Content-Type").map(MediaTypes::bare)
                .filter(MediaTypes::isSupportedManifest).orElseGet(() -> mediaTypeOf(content));
        return Optional.of(new FetchedManifest(mediaType, digest, content));
    }

    private static String mediaTypeOf(byte[] content) {
        try {
            JsonNode root = JSON.readTree(content);
            if (root.hasNonNull("mediaType")) return root.get("mediaType").asText();
            return root.has("manifests") ? MediaTypes.OCI_INDEX : MediaTypes.OCI_MANIFEST;
        } catch (IOException e) {
            return MediaTypes.OCI_MANIFEST;
        }
    }

    /**
     * What a HEAD says of a blob: its length (-1 when the registry does not say, or redirects); empty when the
     * registry does not hold it in that repository.
     */
    public Optional<Long> blobLength(RepositoryName repository, Digest digest) throws IOException {
        String path = "v2/" + repository.value() + "/blobs/" + digest;
        HttpResponse<Void> response = send(request(path).method("HEAD", HttpRequest.BodyPublishers.noBody()), scopeOf(repository), HttpResponse.BodyHandlers.discarding());
        if (response.statusCode() == 404) return Optional.empty();
        if (response.statusCode() == 200) return Optional.of(response.headers().firstValueAsLong("Content-Length").orElse(-1));
        if (isRedirect(response.statusCode())) return Optional.of(-1L);
        throw failure(response.statusCode(), "HEAD /" + path, "", response.headers().firstValue("Retry-After"));
    }

    @Override
    public boolean hasBlob(RepositoryName repository, Digest digest) throws IOException {
        String path = "v2/" + repository.value() + "/blobs/" + digest;
        HttpResponse<Void> response = send(request(path).method("HEAD", HttpRequest.BodyPublishers.noBody()), scopeOf(repository), HttpResponse.BodyHandlers.discarding());
        if (response.statusCode() == 404) return false;
        if (response.statusCode() == 200 || response.statusCode() == 307) return true;
        throw failure(response.statusCode(), "HEAD /" + path, "");
    }

    @Override
    public InputStream blob(RepositoryName repository, Digest digest) throws IOException {
        String path = "v2/" + repository.value() + "/blobs/" + digest;
        return download(path, scopeOf(repository)).orElseThrow(() -> failure(404, "GET /" + path, "the registry does not hold it"));
    }

    /**
     * A GET whose body streams on (a blob), through {@link java.net.HttpURLConnection}: it reads a large body about
     * five times as fast as the JDK's HttpClient (1 GiB in 32 blobs over loopback: 0.45 s against 2.2 s, which held
     * a tar export, one blob at a time, to 0.7x of skopeo copy). Credentials go to the registry only: a bearer
     * challenge is answered once, and a redirect (a storage's signed URL) is followed without them. A body that
     * sends nothing for {@link StalledBodyGuard#STALL_NANOS} is given up. Empty on a 404.
     */
    /** A body on its way: its length as announced (-1 when not) and its bytes. */
    public record Download(long length, InputStream content) {
    }

    private Optional<InputStream> download(String path, String scope) throws IOException {
        return downloadWithLength(path, scope).map(Download::content);
    }

    /** The blob with the length the registry announced; empty on a 404. */
    public Optional<Download> blobWithLength(RepositoryName repository, Digest digest) throws IOException {
        return downloadWithLength("v2/" + repository.value() + "/blobs/" + digest, scopeOf(repository));
    }

    /** What a HEAD says of a manifest: its digest, and its media type and size where the registry said (else null, -1). */
    public record Described(Digest digest, String mediaType, long size) {
    }

    /**
     * What a tag or digest names, from a HEAD (Docker-Content-Digest, Content-Type, Content-Length); from a GET when the
     * registry does not say; empty on a 404.
     */
    public Optional<Described> describe(RepositoryName repository, Reference reference) throws IOException {
        String path = "v2/" + repository.value() + "/manifests/" + reference;
        HttpResponse<Void> response = send(request(path).header("Accept", MANIFEST_TYPES).method("HEAD", HttpRequest.BodyPublishers.noBody()),
                scopeOf(repository), HttpResponse.BodyHandlers.discarding());
        if (response.statusCode() == 404) return Optional.empty();
        if (response.statusCode() != 200) {
            throw failure(response.statusCode(), "HEAD /" + path, "", response.headers().firstValue("Retry-After"));
        }
        Optional<String> stated = response.headers().firstValue("Docker-Content-Digest");
        Optional<String> type = response.headers().firstValue("Content-Type").map(MediaTypes::bare).filter(MediaTypes::isSupportedManifest);
        long size = response.headers().firstValueAsLong("Content-Length").orElse(-1);
        if (stated.isPresent()) {
            try {
                // the digest is what a tag's check needs; a registry that leaves out the type or size says so by null and -1
                return Optional.of(new Described(Digest.parse(stated.get()), type.orElse(null), size));
            } catch (RuntimeException e) {
                // not a digest this side can read: the document itself says
            }
        }
        return manifest(repository, reference).map(m -> new Described(m.digest(), m.mediaType(), m.content().length));
    }

    private Optional<Download> downloadWithLength(String path, String scope) throws IOException {
        URI target = base.resolve(path);
        boolean challenged = false;
        int redirects = 0;
        while (true) {
            java.net.HttpURLConnection c = (java.net.HttpURLConnection) target.toURL().openConnection();
            c.setInstanceFollowRedirects(false);
            c.setConnectTimeout((int) Math.min(30_000, requestTimeout.toMillis()));
            c.setReadTimeout((int) Math.min(Math.min(Integer.MAX_VALUE, requestTimeout.toMillis()),
                    java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(StalledBodyGuard.STALL_NANOS)));
            boolean toRegistry = sameOrigin(target);
            if (toRegistry) authorization(scope).ifPresent(a -> c.setRequestProperty("Authorization", a));
            int status;
            try {
                status = c.getResponseCode();
            } catch (java.net.ConnectException e) {
                throw new IOException("cannot reach the registry at " + base + " (" + (e.getMessage() == null ? "connection refused" : e.getMessage()) + ")", e);
            } catch (IOException e) {
                throw new IOException("the registry at " + base + " broke off GET " + target.getPath() + " (" + e.getMessage() + ")", e);
            }
            if (status == 401 && toRegistry && !challenged && answerChallenge(c.getHeaderField("WWW-Authenticate"), scope)) {
                discard(c);
                challenged = true;
                continue;
            }
            if (isRedirect(status) && redirects++ < 5) {
                String location = c.getHeaderField("Location");
                discard(c);
                if (location == null) throw new IOException("a redirect without a Location for " + path);
                target = redirectTarget(target, location, path);
                continue;
            }
            if (status == 404) {
                discard(c);
                return Optional.empty();
            }
            if (status != 200) {
                String text;
                try (InputStream error = c.getErrorStream()) {
                    text = error == null ? "" : new String(error.readNBytes(4096), StandardCharsets.UTF_8);
                }
                throw failure(status, "GET /" + path, text, Optional.ofNullable(c.getHeaderField("Retry-After")));
            }
            return Optional.of(new Download(c.getContentLengthLong(), new TimedOutBody(c.getInputStream(), "GET /" + path)));
        }
    }

    /** Where a redirect leads: http(s) only, and with {@link #redirectsStayOut} not into a network the registry is not in. */
    private URI redirectTarget(URI from, String location, String path) throws IOException {
        URI to;
        try {
            to = from.resolve(location);
        } catch (IllegalArgumentException e) {
            throw dev.cairn.mirror.UpstreamFailure.badContent("GET /" + path + " redirects to an address that is not one: " + e.getMessage());
        }
        if (!"http".equals(to.getScheme()) && !"https".equals(to.getScheme()) || to.getHost() == null) {
            throw dev.cairn.mirror.UpstreamFailure.badContent("GET /" + path + " redirects to " + to.getScheme() + ":, not to http(s)");
        }
        if (redirectsStayOut && !sameOrigin(to) && isInternal(to.getHost()) && !isInternal(base.getHost())) {
            throw dev.cairn.mirror.UpstreamFailure.badContent("GET /" + path + " redirects to " + to.getHost()
                    + ", an address in this network, which a registry elsewhere has no business sending Cairn to");
        }
        return to;
    }

    /** Loopback, link-local (cloud metadata), site-local or unresolvable: nothing a public registry points at. */
    private static boolean isInternal(String host) {
        try {
            for (java.net.InetAddress a : java.net.InetAddress.getAllByName(host)) {
                if (a.isLoopbackAddress() || a.isLinkLocalAddress() || a.isSiteLocalAddress() || a.isAnyLocalAddress()
                        || (a instanceof java.net.Inet6Address && (a.getAddress()[0] & 0xfe) == 0xfc)) {
                    return true;
                }
            }
            return false;
        } catch (java.net.UnknownHostException e) {
            return true;
        }
    }

    /** Reads what an answer that is not wanted holds (a little: an error's text), so its connection can serve the next request. */
    private static void discard(java.net.HttpURLConnection c) {
        try (InputStream error = c.getErrorStream()) {
            if (error != null) error.readNBytes(64 << 10);
        } catch (IOException e) {
            // the connection is closed rather than reused; nothing else depends on it
        }
    }

    /** A body whose reads time out after a silence: said as a stalled body is, naming the request. */
    private static final class TimedOutBody extends java.io.FilterInputStream {
        private final String what;

        TimedOutBody(InputStream body, String what) {
            super(body);
            this.what = what;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            try {
                return super.read(b, off, len);
            } catch (java.net.SocketTimeoutException e) {
                throw new IOException(what + ": nothing arrived for " + java.util.concurrent.TimeUnit.NANOSECONDS.toSeconds(StalledBodyGuard.STALL_NANOS)
                        + " s; given up", e);
            }
        }
    }

    private boolean sameOrigin(URI target) {
        return java.util.Objects.equals(target.getScheme(), base.getScheme()) && java.util.Objects.equals(target.getAuthority(), base.getAuthority());
    }

    private static boolean isRedirect(int status) {
        return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    }

    @Override
    public void pushBlob(RepositoryName repository, Digest digest, long size, InputStream body) throws IOException {
        String start = "v2/" + repository.value() + "/blobs/uploads/";
        HttpResponse<byte[]> started = send(request(start).POST(HttpRequest.BodyPublishers.noBody()), scopeOf(repository), HttpResponse.BodyHandlers.ofByteArray());
        expect(started, 202, "POST /" + start);
        URI location = uploadLocation(started, start);
        String separator = location.getRawQuery() == null ? "?" : "&";
        URI finish = URI.create(location + separator + "digest=" + URLEncoder.encode(digest.toString(), StandardCharsets.UTF_8));
        // the JDK refuses a publisher of zero bytes; an empty blob is a valid one all the same
        HttpRequest.BodyPublisher publisher = size == 0 ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.fromPublisher(HttpRequest.BodyPublishers.ofInputStream(() -> body), size);
        HttpResponse<byte[]> finished;
        try {
            finished = sendOnce(toRegistry(HttpRequest.newBuilder(finish).timeout(requestTimeout)
                    .header("Content-Type", "application/octet-stream").PUT(publisher), finish, scopeOf(repository)).build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            cancel(location, repository);
            throw e;
        }
        if (finished.statusCode() != 201) {
            cancel(location, repository);
            throw failure(finished.statusCode(), "PUT " + digest + " into " + repository, new String(finished.body(), StandardCharsets.UTF_8));
        }
    }

    /** Opens an upload session and ends it at once: the registry's answer says whether this caller may push there. */
    @Override
    public void checkPush(RepositoryName repository) throws IOException {
        String start = "v2/" + repository.value() + "/blobs/uploads/";
        HttpResponse<byte[]> started = send(request(start).POST(HttpRequest.BodyPublishers.noBody()), scopeOf(repository), HttpResponse.BodyHandlers.ofByteArray());
        if (started.statusCode() != 202) {
            throw failure(started.statusCode(), "may push into " + repository + "? POST /" + start, new String(started.body(), StandardCharsets.UTF_8));
        }
        cancel(uploadLocation(started, start), repository);
    }

    /** Ends an upload session that will not be finished, so it does not wait for the registry's expiry; best effort. */
    private void cancel(URI session, RepositoryName repository) {
        try {
            sendOnce(toRegistry(HttpRequest.newBuilder(session).timeout(Duration.ofSeconds(30)).DELETE(), session, scopeOf(repository)).build(),
                    HttpResponse.BodyHandlers.discarding());
        } catch (IOException e) {
            // the session expires on its own
        }
    }

    /**
     * Credentials only for the registry itself: an upload's Location may name another host (a storage's, or one a
     * hostile registry chose), which gets the request without them.
     */
    private HttpRequest.Builder toRegistry(HttpRequest.Builder builder, URI target, String scope) {
        return sameOrigin(target) ? authorized(builder, scope) : builder;
    }

    private URI uploadLocation(HttpResponse<?> response, String what) throws IOException {
        String location = response.headers().firstValue("Location")
                .orElseThrow(() -> new IOException("the registry answered " + what + " without a Location"));
        return base.resolve(location);
    }

    @Override
    public boolean mountBlob(RepositoryName repository, Digest digest, RepositoryName from) throws IOException {
        String path = "v2/" + repository.value() + "/blobs/uploads/?mount=" + URLEncoder.encode(digest.toString(), StandardCharsets.UTF_8)
                + "&from=" + URLEncoder.encode(from.value(), StandardCharsets.UTF_8);
        HttpResponse<byte[]> response = send(request(path).POST(HttpRequest.BodyPublishers.noBody()), scopeOf(repository), HttpResponse.BodyHandlers.ofByteArray());
        if (response.statusCode() == 201) return true;
        if (response.statusCode() == 202) { // an upload session instead of a mount: not wanted, give it back
            cancel(uploadLocation(response, path), repository);
            return false;
        }
        throw failure(response.statusCode(), "POST /" + path, new String(response.body(), StandardCharsets.UTF_8));
    }

    @Override
    public void pushManifest(RepositoryName repository, Reference reference, String mediaType, byte[] content) throws IOException {
        String path = "v2/" + repository.value() + "/manifests/" + reference;
        HttpResponse<byte[]> response = send(request(path).header("Content-Type", mediaType).PUT(HttpRequest.BodyPublishers.ofByteArray(content)),
                scopeOf(repository), HttpResponse.BodyHandlers.ofByteArray());
        expect(response, 201, "PUT /" + path);
    }

    @Override
    public List<ListedEntry> entries(RepositoryName repository) throws IOException {
        List<ListedEntry> entries = new ArrayList<>();
        // a registry other than Cairn answers 404 here, as Cairn does for a repository it does not know: nothing listed
        for (JsonNode page : pages("api/v1/repositories/" + repository.value() + "/entries?n=" + PAGE, "entries", scopeOf(repository))) {
            for (JsonNode entry : page) {
                try {
                    List<String> tags = new ArrayList<>();
                    entry.path("tags").forEach(t -> tags.add(t.asText()));
                    entries.add(new ListedEntry(Digest.parse(entry.path("digest").asText()), entry.path("mediaType").asText(), tags,
                            new EntryTimes(java.time.Instant.parse(entry.path("pushedAt").asText()),
                                    java.time.Instant.parse(entry.path("lastUsed").asText()))));
                } catch (RuntimeException e) {
                    throw new IOException("the registry listed an entry of " + repository + " it cannot describe: " + entry, e);
                }
            }
        }
        return entries;
    }

    @Override
    public boolean backdate(RepositoryName repository, Digest digest, EntryTimes times) throws IOException {
        String path = "api/v1/repositories/" + repository.value() + "/entries/" + digest + "/times";
        String body = JSON.writeValueAsString(Map.of("pushedAt", times.pushedAt().toString(), "lastUsed", times.lastUsed().toString()));
        HttpResponse<byte[]> response = send(request(path).header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(body)), scopeOf(repository), HttpResponse.BodyHandlers.ofByteArray());
        // not a Cairn (404, 405), not an admin (401, 403), or an entry that was there or read already (400): its times stay
        if (response.statusCode() == 404 || response.statusCode() == 405 || response.statusCode() == 403
                || response.statusCode() == 401 || response.statusCode() == 400) return false;
        if (response.statusCode() != 204) throw failure(response.statusCode(), "PUT /" + path, new String(response.body(), StandardCharsets.UTF_8));
        return true;
    }

    @Override
    public List<Namespace> namespaces() throws IOException {
        HttpResponse<byte[]> response = bounded(send(get("api/v1/keyed"), "registry:catalog:*", HttpResponse.BodyHandlers.ofInputStream()),
                MAX_DOCUMENT, "GET /api/v1/keyed");
        if (response.statusCode() == 404) return List.of(); // not a Cairn, or one from before build-tool caches
        expect(response, 200, "GET /api/v1/keyed");
        List<Namespace> found = new ArrayList<>();
        for (JsonNode n : JSON.readTree(response.body()).path("namespaces")) {
            try {
                found.add(new Namespace(n.path("kind").asText(), RepositoryName.of(n.path("namespace").asText()), n.path("keys").asLong()));
            } catch (RuntimeException e) {
                throw new IOException("the registry listed a namespace it cannot describe: " + n, e);
            }
        }
        return found;
    }

    @Override
    public List<Entry> entries(String kind, RepositoryName namespace, String after) throws IOException {
        String path = keyedPath(kind, namespace) + "/entries?n=" + PAGE + "&last=" + URLEncoder.encode(after, StandardCharsets.UTF_8);
        HttpResponse<byte[]> response = bounded(send(get(path), scopeOf(namespace), HttpResponse.BodyHandlers.ofInputStream()), MAX_DOCUMENT, "GET /" + path);
        expect(response, 200, "GET /" + path);
        List<Entry> entries = new ArrayList<>();
        for (JsonNode e : JSON.readTree(response.body()).path("entries")) {
            try {
                List<Held> holds = new ArrayList<>();
                for (JsonNode h : e.path("holds")) holds.add(new Held(Digest.parse(h.path("digest").asText()), h.path("size").asLong()));
                entries.add(new Entry(e.path("key").asText(), Digest.parse(e.path("digest").asText()), e.path("size").asLong(),
                        java.time.Instant.parse(e.path("pushedAt").asText()), java.time.Instant.parse(e.path("lastUsed").asText()),
                        e.has("costMillis") ? java.util.OptionalLong.of(e.get("costMillis").asLong()) : java.util.OptionalLong.empty(),
                        Optional.ofNullable(e.get("signature")).map(JsonNode::asText), holds));
            } catch (RuntimeException ex) {
                throw new IOException("the registry listed a key of " + kind + " " + namespace + " it cannot describe: " + e, ex);
            }
        }
        return entries;
    }

    @Override
    public Optional<InputStream> blob(String kind, RepositoryName namespace, Digest digest) throws IOException {
        return download(keyedPath(kind, namespace) + "/blobs/" + digest, scopeOf(namespace));
    }

    @Override
    public Map<String, Digest> present(String kind, RepositoryName namespace, java.util.Collection<String> keys) throws IOException {
        String path = keyedPath(kind, namespace) + "/lookup";
        HttpResponse<byte[]> response = send(request(path).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(Map.of("keys", keys)))), scopeOf(namespace),
                HttpResponse.BodyHandlers.ofByteArray());
        if (response.statusCode() == 404) return Map.of(); // not a Cairn that keeps build-tool caches: nothing there to skip
        expect(response, 200, "POST /" + path);
        Map<String, Digest> found = new java.util.HashMap<>();
        var fields = JSON.readTree(response.body()).path("found").fields();
        while (fields.hasNext()) {
            var f = fields.next();
            found.put(f.getKey(), Digest.parse(f.getValue().asText()));
        }
        return found;
    }

    @Override
    public boolean writes(String kind) {
        return switch (kind) {
            case "cache", "turbo", BAZEL_AC, BAZEL_CAS -> true;
            default -> false;
        };
    }

    /**
     * Through the kind's own front, so the entry is checked as any client's write is: {@code /cache/NS/KEY},
     * {@code /bazel/NS/cas|ac/HASH}, {@code /v8/artifacts/HASH?slug=NS} with turbo's duration and signature headers.
     */
    @Override
    public void put(String kind, RepositoryName namespace, Entry entry, InputStream body) throws IOException {
        try {
            dev.cairn.transfer.KeyedCaches.checkKey(kind, entry.key()); // never a path that resolves somewhere else ('..')
        } catch (dev.cairn.values.Refusal r) {
            throw new IOException(r.getMessage(), r);
        }
        String path = switch (kind) {
            case "cache" -> "cache/" + namespace.value() + "/" + pathSegments(entry.key());
            case BAZEL_CAS -> "bazel/" + namespace.value() + "/cas/" + pathSegments(entry.key());
            case BAZEL_AC -> "bazel/" + namespace.value() + "/ac/" + pathSegments(entry.key());
            case "turbo" -> "v8/artifacts/" + pathSegments(entry.key()) + "?slug=" + URLEncoder.encode(namespace.value(), StandardCharsets.UTF_8);
            default -> throw new IOException("Cairn cannot write keys of kind " + kind);
        };
        HttpRequest.BodyPublisher publisher = entry.size() == 0 ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.fromPublisher(HttpRequest.BodyPublishers.ofInputStream(() -> body), entry.size());
        HttpRequest.Builder put = request(path).header("Content-Type", "application/octet-stream").PUT(publisher);
        if (kind.equals("turbo")) {
            entry.costMillis().ifPresent(ms -> put.header("x-artifact-duration", Long.toString(ms)));
            entry.signature().ifPresent(sig -> put.header("x-artifact-tag", sig));
        }
        // the body streams once: no second try after a challenge (the caller's checkPush fetched any token first)
        HttpResponse<byte[]> response = sendOnce(authorized(put, scopeOf(namespace)).build(), HttpResponse.BodyHandlers.ofByteArray());
        if (response.statusCode() / 100 != 2) {
            throw failure(response.statusCode(), "PUT " + kind + " " + namespace + " " + entry.key(), new String(response.body(), StandardCharsets.UTF_8));
        }
    }

    @Override
    public int backdate(String kind, RepositoryName namespace, List<KeyTimes> times) throws IOException {
        String path = keyedPath(kind, namespace) + "/times";
        List<Map<String, String>> entries = new ArrayList<>(times.size());
        for (KeyTimes t : times) entries.add(Map.of("key", t.key(), "pushedAt", t.pushedAt().toString(), "lastUsed", t.lastUsed().toString()));
        HttpResponse<byte[]> response = send(request(path).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(Map.of("entries", entries)))), scopeOf(namespace),
                HttpResponse.BodyHandlers.ofByteArray());
        // not an admin (401, 403) or not a Cairn (404): the keys stay as new as their import
        if (response.statusCode() == 401 || response.statusCode() == 403 || response.statusCode() == 404) return 0;
        expect(response, 200, "POST /" + path);
        return JSON.readTree(response.body()).path("backdated").asInt();
    }

    private static String keyedPath(String kind, RepositoryName namespace) {
        return "api/v1/keyed/" + URLEncoder.encode(kind, StandardCharsets.UTF_8) + "/" + namespace.value();
    }

    /** A key as a URL path: each segment percent-encoded (a space as %20, not '+'), the '/' between them kept. */
    private static String pathSegments(String key) {
        StringBuilder path = new StringBuilder();
        for (String segment : key.split("/", -1)) {
            if (!path.isEmpty()) path.append('/');
            path.append(URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20"));
        }
        return path.toString();
    }

    /**
     * A response's body read whole, at most {@code limit} bytes and never stalled for long: a manifest or a listing
     * from a registry this node does not control is bounded like anything a client sends it.
     */
    private static HttpResponse<byte[]> bounded(HttpResponse<InputStream> response, int limit, String what) throws IOException {
        byte[] body;
        try (InputStream in = new StalledBodyGuard(response.body(), what)) {
            body = in.readNBytes(limit + 1);
        }
        if (body.length > limit) {
            throw dev.cairn.mirror.UpstreamFailure.badContent(what + " answered with more than " + limit + " bytes, more than this side reads");
        }
        return new HttpResponse<>() {
            @Override public int statusCode() { return response.statusCode(); }
            @Override public HttpRequest request() { return response.request(); }
            @Override public Optional<HttpResponse<byte[]>> previousResponse() { return Optional.empty(); }
            @Override public java.net.http.HttpHeaders headers() { return response.headers(); }
            @Override public byte[] body() { return body; }
            @Override public Optional<javax.net.ssl.SSLSession> sslSession() { return response.sslSession(); }
            @Override public URI uri() { return response.uri(); }
            @Override public HttpClient.Version version() { return response.version(); }
        };
    }

    private HttpRequest.Builder get(String path) {
        return request(path).GET();
    }

    private HttpRequest.Builder request(String path) {
        return HttpRequest.newBuilder(base.resolve(path)).timeout(requestTimeout);
    }

    /**
     * Sends with the credentials this client has for the request's repository; on a bearer challenge fetches a
     * token for the scope it names and sends once more. The builder is reused, so bodies must be replayable:
     * every request sent through here has an empty or in-memory body.
     */
    private <T> HttpResponse<T> send(HttpRequest.Builder builder, String scope, HttpResponse.BodyHandler<T> handler) throws IOException {
        HttpResponse<T> response = sendOnce(authorized(builder, scope).build(), handler);
        if (response.statusCode() != 401 || !answerChallenge(response.headers().firstValue("WWW-Authenticate").orElse(null), scope)) return response;
        discard(response);
        return sendOnce(authorized(builder, scope).build(), handler);
    }

    /**
     * Readies what a 401's challenge asks for, to send the request once more: a bearer token for the scope it names
     * (fetched from its realm), or the Basic credentials where they were held back; false when there is nothing to send.
     */
    private boolean answerChallenge(String challenge, String scope) throws IOException {
        if (challenge == null) return false;
        if (challenge.regionMatches(true, 0, "Bearer ", 0, 7)) {
            Map<String, String> params = challengeParams(challenge);
            tokens.put(scope, token(params, params.getOrDefault("scope", scope)));
            return true;
        }
        if (challenge.regionMatches(true, 0, "Basic", 0, 5) && basic.isPresent() && credentialsWhenAsked && !basicAsked) {
            basicAsked = true;
            return true;
        }
        return false;
    }

    private HttpRequest.Builder authorized(HttpRequest.Builder builder, String scope) {
        authorization(scope).ifPresent(a -> builder.setHeader("Authorization", a));
        return builder;
    }

    /** The Authorization header for {@code scope}: its bearer token once one was granted, else the Basic credentials, if any. */
    private Optional<String> authorization(String scope) {
        String token = tokens.get(scope);
        if (token != null) return Optional.of("Bearer " + token);
        return credentialsWhenAsked && !basicAsked ? Optional.empty() : basic;
    }

    /** The token realm's answer for {@code scope}, asked with this client's Basic credentials. */
    private String token(Map<String, String> challenge, String scope) throws IOException {
        String realm = challenge.get("realm");
        if (realm == null) throw new IOException("the registry asked for a bearer token without naming its realm");
        StringBuilder uri = new StringBuilder(realm).append(realm.contains("?") ? "&" : "?");
        if (challenge.containsKey("service")) uri.append("service=").append(URLEncoder.encode(challenge.get("service"), StandardCharsets.UTF_8)).append('&');
        uri.append("scope=").append(URLEncoder.encode(scope, StandardCharsets.UTF_8));
        HttpRequest.Builder request = HttpRequest.newBuilder(base.resolve(uri.toString())).timeout(requestTimeout).GET();
        basic.ifPresent(b -> request.header("Authorization", b));
        HttpResponse<byte[]> response = sendOnce(request.build(), HttpResponse.BodyHandlers.ofByteArray());
        expect(response, 200, "the token for " + scope);
        JsonNode body = JSON.readTree(response.body());
        String token = body.hasNonNull("token") ? body.get("token").asText() : body.path("access_token").asText("");
        if (token.isEmpty()) throw new IOException("the token realm " + realm + " answered without a token");
        return token;
    }

    private static Map<String, String> challengeParams(String challenge) {
        Map<String, String> params = new java.util.HashMap<>();
        Matcher m = CHALLENGE_PARAM.matcher(challenge);
        while (m.find()) params.put(m.group(1).toLowerCase(java.util.Locale.ROOT), m.group(2));
        return params;
    }

    /** The token scope a repository's requests need: push and pull (one token serves both). */
    private static String scopeOf(RepositoryName repository) {
        return "repository:" + repository.value() + ":pull,push";
    }

    private <T> HttpResponse<T> sendOnce(HttpRequest request, HttpResponse.BodyHandler<T> handler) throws IOException {
        try {
            return http.send(request, handler);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while talking to " + base);
        } catch (java.net.ConnectException e) {
            throw new IOException("cannot reach the registry at " + base + " (" + (e.getMessage() == null ? "connection refused" : e.getMessage()) + ")", e);
        } catch (java.net.http.HttpTimeoutException e) {
            throw new IOException("the registry at " + base + " did not answer in time: " + request.method() + " " + request.uri().getPath(), e);
        } catch (IOException e) {
            // the body's own failure (an archive's blob that is not what it says) is the error, not the connection's
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof dev.cairn.transfer.BadArchiveException bad) throw bad;
            }
            // a peer that closed the connection says "closed" or nothing at all: say which request it ended
            throw new IOException("the registry at " + base + " broke off " + request.method() + " " + request.uri().getPath()
                    + " (" + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()) + ")", e);
        }
    }

    private static void discard(HttpResponse<?> response) throws IOException {
        if (response.body() instanceof InputStream in) in.close();
    }

    private static void expect(HttpResponse<byte[]> response, int status, String what) throws IOException {
        if (response.statusCode() != status) {
            throw failure(response.statusCode(), what, new String(response.body(), StandardCharsets.UTF_8));
        }
    }

    /** An error that names the request and the registry's own error code and message, as it sent them. */
    private static dev.cairn.mirror.UpstreamFailure failure(int status, String what, String body) {
        return failure(status, what, body, Optional.empty());
    }

    /** With what the registry asked in Retry-After (seconds; an HTTP date is taken as no advice). */
    private static dev.cairn.mirror.UpstreamFailure failure(int status, String what, String body, Optional<String> retryAfter) {
        String detail = body;
        try {
            JsonNode error = JSON.readTree(body).path("errors").path(0);
            if (!error.isMissingNode()) detail = error.path("code").asText() + ": " + error.path("message").asText();
        } catch (IOException | RuntimeException e) {
            detail = body.length() > 200 ? body.substring(0, 200) : body;
        }
        Optional<Duration> wait = retryAfter.flatMap(v -> {
            try {
                return Optional.of(Duration.ofSeconds(Long.parseLong(v.strip())));
            } catch (NumberFormatException e) {
                return Optional.empty();
            }
        });
        return new dev.cairn.mirror.UpstreamFailure(what + " answered " + status + (detail.isBlank() ? "" : " (" + detail.strip() + ")"),
                status, wait, null);
    }
}
