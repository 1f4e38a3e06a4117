import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Cairn's benchmark load generator: one file, run in source-file mode ({@code java bench/LoadGen.java CMD ...}).
 * A raw HTTP/1.1 client over blocking socket channels (keep-alive, zero-copy file bodies, bodies drained
 * into a direct buffer), on virtual threads, so that it costs far less CPU per request than the servers it
 * measures. Every command prints one line of {@code key=value} pairs for bench/run to parse.
 *
 * <pre>
 * push      --url U --repo R --file F --digest D [--chunk BYTES]   one blob, monolithic PUT or PATCH chunks
 * put-raw   --url U --file F                                         PUT the file to U (generator ceiling vs nginx)
 * pull      --url U [--accept T]                                     GET U, drain the body
 * image-pull --url U --name R --tag T [--clients 1]                  N clients at once each pull an image as a
 *                                                                    runtime does (manifest, then config and layers)
 * setup     --url U --out DIR                                        the small image and the 300-entry cache index
 * import    --base U --index PATH --heads FILE --accept T [--clients 16] [--seconds S] [--warmup S]
 * seed      --url U [--repos 100] [--per-repo 100] [--blobs 10] [--clients 32] [--single-post] [--offset N]
 * dist-layout --root DIR [--repos 100] [--per-repo 100] [--blobs 10] [--tagged-fraction 0.5] [--restore]
 * gc-under-load --url U [--pushers 8] [--delay-ms 300] [--after-ms 2000] [--limit-s 600]
 * digest    --file F                                                 sha256 of a file
 * ping                                                               answers ok=1 (the JVM is up and compiled)
 * repl                                                               the commands above, one per line on stdin
 * </pre>
 */
public final class LoadGen {
    static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
    static final String OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
    static final String OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
    static final String BUILDKIT_CACHE_CONFIG = "application/vnd.buildkit.cacheconfig.v0";

    public static void main(String[] argv) throws Exception {
        if (argv.length == 0) {
            System.err.println("usage: LoadGen repl|digest|push|put-raw|pull|setup|import|seed|dist-layout|gc-under-load [--key value ...]");
            System.exit(2);
        }
        if (argv[0].equals("repl")) {
            repl();
            return;
        }
        run(argv);
    }

    /**
     * One command per line on stdin, one result line per command on stdout: bench/run keeps a single JVM
     * (compiled once, warmed up) for the whole run instead of launching one per measurement.
     */
    static void repl() throws Exception {
        java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] argv = line.strip().split("\\s+");
            if (argv[0].isEmpty()) continue;
            try {
                run(argv);
            } catch (Throwable e) {
                System.out.println("error=" + String.valueOf(e).replaceAll("\\s+", "_"));
            }
            System.out.flush();
        }
    }

    static void run(String[] argv) throws Exception {
        Args a = new Args(argv);
        switch (argv[0]) {
            case "ping" -> System.out.println("ok=1");
            case "digest" -> digest(a);
            case "push" -> push(a);
            case "put-raw" -> putRaw(a);
            case "pull" -> pull(a);
            case "image-pull" -> imagePull(a);
            case "setup" -> setup(a);
            case "import" -> importLoad(a);
            case "seed" -> seed(a);
            case "dist-layout" -> distLayout(a);
            case "gc-under-load" -> gcUnderLoad(a);
            default -> throw new IllegalArgumentException("unknown command " + argv[0]);
        }
    }

    // ---------------------------------------------------------------- blobs: push and pull

    static void digest(Args a) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        try (FileChannel in = FileChannel.open(Path.of(a.get("file")), StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocate(1 << 20);
            while (in.read(buf.clear()) > 0) sha.update(buf.flip());
        }
        System.out.println("digest=sha256:" + HexFormat.of().formatHex(sha.digest()));
    }

    static void push(Args a) throws Exception {
        Url base = Url.parse(a.get("url"));
        String repo = a.get("repo");
        Path file = Path.of(a.get("file"));
        String digest = a.get("digest");
        long chunk = a.longOr("chunk", 0);
        long size = Files.size(file);
        try (Conn c = new Conn(base); FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            long t0 = System.nanoTime();
            Resp r = c.send("POST", "/v2/" + repo + "/blobs/uploads/", Map.of("Content-Length", "0"), null);
            r.expect(202, "start upload");
            String location = r.location(base);
            int requests = 1;
            if (chunk > 0) {
                for (long off = 0; off < size; off += chunk) {
                    long n = Math.min(chunk, size - off);
                    r = c.send("PATCH", location, Map.of("Content-Type", "application/octet-stream",
                            "Content-Range", off + "-" + (off + n - 1), "Content-Length", Long.toString(n)), new FileBody(in, off, n));
                    r.expect(202, "PATCH chunk at " + off);
                    location = r.location(base);
                    requests++;
                }
                r = c.send("PUT", withQuery(location, "digest=" + digest), Map.of("Content-Length", "0"), null);
            } else {
                r = c.send("PUT", withQuery(location, "digest=" + digest), Map.of("Content-Type", "application/octet-stream",
                        "Content-Length", Long.toString(size)), new FileBody(in, 0, size));
            }
            r.expect(201, "finish upload");
            requests++;
            double s = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "seconds=%.3f mbps=%.1f bytes=%d requests=%d%n", s, size / s / 1e6, size, requests);
        }
    }

    /** The same bytes PUT to a sink (nginx answering 204): what the generator and loopback can do at most. */
    static void putRaw(Args a) throws Exception {
        Url url = Url.parse(a.get("url"));
        Path file = Path.of(a.get("file"));
        long size = Files.size(file);
        try (Conn c = new Conn(url); FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            long t0 = System.nanoTime();
            Resp r = c.send("PUT", url.path, Map.of("Content-Type", "application/octet-stream", "Content-Length", Long.toString(size)),
                    new FileBody(in, 0, size));
            if (r.status / 100 != 2) throw new IOException("sink answered " + r.status);
            double s = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "seconds=%.3f mbps=%.1f bytes=%d%n", s, size / s / 1e6, size);
        }
    }

    static void pull(Args a) throws Exception {
        Url url = Url.parse(a.get("url"));
        try (Conn c = new Conn(url)) {
            long t0 = System.nanoTime();
            Resp r = c.send("GET", url.path, a.has("accept") ? Map.of("Accept", a.get("accept")) : Map.of(), null);
            r.expect(200, "GET " + url.path);
            double s = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "seconds=%.3f mbps=%.1f bytes=%d%n", s, r.bodyLength / s / 1e6, r.bodyLength);
        }
    }

    private static final Pattern DIGEST = Pattern.compile("\"digest\"\\s*:\\s*\"(sha256:[0-9a-f]{64})\"");

    /**
     * {@code --clients} pulls of one image at once, each on its own connection as separate runners would: the manifest
     * by tag, then every blob it names (config and layers) one after another, bodies drained. Prints the wall time of
     * all of them and the bytes they read.
     */
    static void imagePull(Args a) throws Exception {
        Url base = Url.parse(a.get("url"));
        String name = a.get("name");
        String tag = a.get("tag");
        int clients = Integer.parseInt(a.getOr("clients", "1"));
        AtomicLong bytes = new AtomicLong();
        long t0 = System.nanoTime();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<Void>> pulls = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                pulls.add(pool.submit(() -> {
                    try (Conn c = new Conn(base)) {
                        Resp m = c.send("GET", "/v2/" + name + "/manifests/" + tag, Map.of("Accept", OCI_MANIFEST + ", " + OCI_INDEX), null, true);
                        m.expect(200, "GET manifest " + name + ":" + tag);
                        bytes.addAndGet(m.bodyLength);
                        Matcher d = DIGEST.matcher(new String(m.body, StandardCharsets.UTF_8));
                        while (d.find()) {
                            Resp b = c.send("GET", "/v2/" + name + "/blobs/" + d.group(1), Map.of(), null);
                            b.expect(200, "GET blob " + d.group(1));
                            bytes.addAndGet(b.bodyLength);
                        }
                    }
                    return null;
                }));
            }
            for (Future<Void> f : pulls) f.get();
        }
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "seconds=%.3f mbps=%.1f bytes=%d%n", s, bytes.get() / s / 1e6, bytes.get());
    }

    // ---------------------------------------------------------------- the small image and the cache index

    /**
     * Pushes (same bytes, so same digests, on every registry) the image {@code bench/small:latest} (a config
     * and three layers) and the BuildKit-style cache index {@code bench/import:cache} (a cache config and 299
     * layers listed as index entries, 300 in all). Writes the documents and digests to {@code --out} for
     * nginx and for the import workload.
     */
    static void setup(Args a) throws Exception {
        Url base = Url.parse(a.get("url"));
        Path out = Path.of(a.get("out"));
        Files.createDirectories(out);
        try (Conn c = new Conn(base)) {
            List<byte[]> small = new ArrayList<>();
            for (int i = 0; i < 4; i++) small.add(randomBytes(1000 + i, 2048 + 512 * i, "small-" + i));
            for (byte[] b : small) pushBlobTwoStep(c, base, "bench/small", b);
            List<String> layers = new ArrayList<>();
            for (int i = 1; i < 4; i++) layers.add(descriptor(OCI_LAYER, small.get(i)));
            byte[] manifest = imageManifest(descriptor(OCI_CONFIG, small.get(0)), layers);
            c.send("PUT", "/v2/bench/small/manifests/latest", Map.of("Content-Type", OCI_MANIFEST,
                    "Content-Length", Integer.toString(manifest.length)), new BytesBody(manifest)).expect(201, "PUT small manifest");
            Files.write(out.resolve("manifest.json"), manifest);
            Files.writeString(out.resolve("small.env"), "SMALL_LAYER=" + sha256(small.get(1)) + "\nSMALL_MANIFEST=" + sha256(manifest) + "\n");

            List<String> entries = new ArrayList<>();
            List<String> digests = new ArrayList<>();
            List<byte[]> blobs = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                byte[] blob = randomBytes(5000 + i, 1024 + (i * 37) % 3072, "import-" + i);
                blobs.add(blob);
                digests.add(sha256(blob));
                entries.add(i == 0 ? descriptor(BUILDKIT_CACHE_CONFIG, blob) : descriptor(OCI_LAYER, blob));
            }
            AtomicInteger next = new AtomicInteger();
            try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                List<Future<?>> pushes = new ArrayList<>();
                for (int t = 0; t < 8; t++) {
                    pushes.add(pool.submit(() -> {
                        try (Conn pc = new Conn(base)) {
                            for (int i; (i = next.getAndIncrement()) < blobs.size(); ) pushBlobTwoStep(pc, base, "bench/import", blobs.get(i));
                        }
                        return null;
                    }));
                }
                for (Future<?> f : pushes) f.get();
            }
            byte[] index = ("{\"schemaVersion\":2,\"mediaType\":\"" + OCI_INDEX + "\",\"manifests\":[" + String.join(",", entries) + "]}")
                    .getBytes(StandardCharsets.UTF_8);
            c.send("PUT", "/v2/bench/import/manifests/cache", Map.of("Content-Type", OCI_INDEX,
                    "Content-Length", Integer.toString(index.length)), new BytesBody(index)).expect(201, "PUT cache index");
            Files.write(out.resolve("index.json"), index);
            Files.write(out.resolve("import-digests.txt"), digests);
        }
        System.out.println("ok=1");
    }

    // ---------------------------------------------------------------- cache import

    /**
     * A BuildKit-style cache import, repeated by {@code --clients} clients, each on its own keep-alive
     * connection: GET the index, then HEAD each of the listed blobs, one after the other.
     */
    static void importLoad(Args a) throws Exception {
        Url base = Url.parse(a.get("base"));
        String index = a.get("index");
        List<String> heads = Files.readAllLines(Path.of(a.get("heads"))).stream().filter(l -> !l.isBlank()).toList();
        String accept = a.getOr("accept", OCI_INDEX);
        int clients = (int) a.longOr("clients", 16);
        double seconds = a.doubleOr("seconds", 5);
        double warmup = a.doubleOr("warmup", 1);
        AtomicBoolean measuring = new AtomicBoolean(false);
        AtomicBoolean stop = new AtomicBoolean(false);
        AtomicLong imports = new AtomicLong();
        AtomicLong requests = new AtomicLong();
        AtomicLong errors = new AtomicLong();
        ConcurrentLinkedQueue<String> errorSamples = new ConcurrentLinkedQueue<>();
        List<long[]> latencies = Collections.synchronizedList(new ArrayList<>());
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < clients; i++) {
                pool.submit(() -> {
                    long[] lat = new long[1 << 16];
                    int n = 0;
                    try (Conn c = new Conn(base)) {
                        while (!stop.get()) {
                            long t0 = System.nanoTime();
                            boolean ok = true;
                            Resp r = c.send("GET", index, Map.of("Accept", accept), null);
                            if (measuring.get()) requests.incrementAndGet();
                            if (r.status != 200) ok = false;
                            int done = 1;
                            for (String h : heads) {
                                if (stop.get() && !measuring.get()) break;
                                r = c.send("HEAD", h, Map.of(), null);
                                done++;
                                if (measuring.get()) requests.incrementAndGet();
                                if (r.status != 200) ok = false;
                            }
                            if (measuring.get()) {
                                if (ok && done == heads.size() + 1) {
                                    imports.incrementAndGet();
                                    if (n < lat.length) lat[n++] = System.nanoTime() - t0;
                                } else if (!ok) {
                                    errors.incrementAndGet();
                                    if (errorSamples.size() < 5) errorSamples.add("status " + r.status);
                                }
                            }
                        }
                    } catch (IOException e) {
                        errors.incrementAndGet();
                        errorSamples.add(e.toString());
                    }
                    latencies.add(java.util.Arrays.copyOf(lat, n));
                    return null;
                });
            }
            Thread.sleep((long) (warmup * 1000));
            measuring.set(true);
            long t0 = System.nanoTime();
            Thread.sleep((long) (seconds * 1000));
            measuring.set(false);
            double s = (System.nanoTime() - t0) / 1e9;
            long doneImports = imports.get();
            long doneRequests = requests.get();
            stop.set(true);
            pool.shutdown();
            pool.awaitTermination(120, java.util.concurrent.TimeUnit.SECONDS);
            long[] all = latencies.stream().flatMapToLong(java.util.Arrays::stream).sorted().toArray();
            // Throughput counts every request of the window (an import is heads + 1 requests), so that a server
            // slower than one import per client per window is still measured, not rounded down to zero.
            System.out.printf(Locale.ROOT, "imports_per_s=%.3f requests_per_s=%.0f completed_imports=%d errors=%d import_p50_ms=%.1f import_p99_ms=%.1f%s%n",
                    doneRequests / (double) (heads.size() + 1) / s, doneRequests / s, doneImports, errors.get(), pct(all, 50) / 1e6, pct(all, 99) / 1e6,
                    errorSamples.isEmpty() ? "" : " first_error=" + errorSamples.peek().replace(' ', '_'));
        }
    }

    // ---------------------------------------------------------------- the 100k-blob store for GC

    /** The deterministic content of blob {@code j} of manifest {@code g}: 512 to 2047 bytes. */
    static byte[] gcBlob(int g, int j) {
        return randomBytes(1_000_003L * g + j, 512 + (int) ((g * 7919L + j * 104729L) % 1536), "gc " + g + " " + j);
    }

    static byte[] gcManifest(int g, int blobs, List<String> digestsOut) throws Exception {
        String config = null;
        List<String> layers = new ArrayList<>();
        for (int j = 0; j < blobs; j++) {
            byte[] b = gcBlob(g, j);
            digestsOut.add(sha256(b));
            if (j == 0) config = descriptor(OCI_CONFIG, b);
            else layers.add(descriptor(OCI_LAYER, b));
        }
        return imageManifest(config, layers);
    }

    static String gcRepo(int g, int repos) {
        return "gc/app-" + (g % repos);
    }

    static String gcTag(int g, int repos) {
        return "t" + (g / repos);
    }

    /**
     * Fills a registry through its API: {@code repos x per-repo} tagged image manifests of {@code blobs} blobs
     * each, pushed roughly in manifest order (so that the oldest are the least recently used).
     */
    static void seed(Args a) throws Exception {
        Url base = Url.parse(a.get("url"));
        int repos = (int) a.longOr("repos", 100);
        int manifests = repos * (int) a.longOr("per-repo", 100);
        int blobs = (int) a.longOr("blobs", 10);
        int clients = (int) a.longOr("clients", 32);
        boolean singlePost = a.has("single-post");
        // --offset: images numbered from there on, new ones beside a store seeded before (new digests and tags)
        int offset = (int) a.longOr("offset", 0);
        AtomicInteger next = new AtomicInteger(offset);
        AtomicLong bytes = new AtomicLong();
        long t0 = System.nanoTime();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                futures.add(pool.submit(() -> {
                    try (Conn c = new Conn(base)) {
                        int g;
                        while ((g = next.getAndIncrement()) < offset + manifests) {
                            String repo = gcRepo(g, repos);
                            for (int j = 0; j < blobs; j++) {
                                byte[] b = gcBlob(g, j);
                                bytes.addAndGet(b.length);
                                if (singlePost) {
                                    c.send("POST", "/v2/" + repo + "/blobs/uploads/?digest=" + sha256(b), Map.of("Content-Type",
                                            "application/octet-stream", "Content-Length", Integer.toString(b.length)), new BytesBody(b))
                                            .expect(201, "POST blob");
                                } else {
                                    pushBlobTwoStep(c, base, repo, b);
                                }
                            }
                            byte[] m = gcManifest(g, blobs, new ArrayList<>());
                            bytes.addAndGet(m.length);
                            c.send("PUT", "/v2/" + repo + "/manifests/" + gcTag(g, repos), Map.of("Content-Type", OCI_MANIFEST,
                                    "Content-Length", Integer.toString(m.length)), new BytesBody(m)).expect(201, "PUT manifest");
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) f.get();
        }
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "seconds=%.1f manifests=%d blobs=%d bytes=%d requests_per_s=%.0f%n", s, manifests,
                manifests * blobs, bytes.get(), manifests * (blobs * (singlePost ? 1 : 2) + 1) / s);
    }

    /**
     * The same store written straight into Distribution's filesystem layout (its GC is offline, so the
     * layout is all it reads): every blob with its repository link, every manifest as a blob with its
     * revision link; only the newest {@code tagged-fraction} keep their tags, so that
     * {@code garbage-collect --delete-untagged} removes the oldest manifests and their blobs, as Cairn's
     * budget eviction does. With {@code --restore}, only missing or partial files are written: a store that
     * garbage-collect went through becomes the whole store again, at a fraction of the cost of writing it
     * (and of deleting its 470,000 files and directories, which takes this machine about two minutes).
     */
    static void distLayout(Args a) throws Exception {
        Path root = Path.of(a.get("root")).resolve("docker/registry/v2");
        int repos = (int) a.longOr("repos", 100);
        int manifests = repos * (int) a.longOr("per-repo", 100);
        int blobs = (int) a.longOr("blobs", 10);
        double tagged = a.doubleOr("tagged-fraction", 0.5);
        int firstTagged = (int) Math.round(manifests * (1 - tagged));
        boolean restore = a.has("restore");
        AtomicInteger next = new AtomicInteger();
        AtomicLong written = new AtomicLong();
        long t0 = System.nanoTime();
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                futures.add(pool.submit(() -> {
                    int g;
                    while ((g = next.getAndIncrement()) < manifests) {
                        Path repo = root.resolve("repositories").resolve(gcRepo(g, repos));
                        for (int j = 0; j < blobs; j++) {
                            byte[] b = gcBlob(g, j);
                            String hex = sha256(b).substring(7);
                            written.addAndGet(write(root.resolve("blobs/sha256").resolve(hex.substring(0, 2)).resolve(hex).resolve("data"), b, restore));
                            written.addAndGet(write(repo.resolve("_layers/sha256").resolve(hex).resolve("link"),
                                    ("sha256:" + hex).getBytes(StandardCharsets.US_ASCII), restore));
                        }
                        byte[] m = gcManifest(g, blobs, new ArrayList<>());
                        String hex = sha256(m).substring(7);
                        byte[] link = ("sha256:" + hex).getBytes(StandardCharsets.US_ASCII);
                        written.addAndGet(write(root.resolve("blobs/sha256").resolve(hex.substring(0, 2)).resolve(hex).resolve("data"), m, restore));
                        written.addAndGet(write(repo.resolve("_manifests/revisions/sha256").resolve(hex).resolve("link"), link, restore));
                        if (g >= firstTagged) {
                            Path tag = repo.resolve("_manifests/tags").resolve(gcTag(g, repos));
                            written.addAndGet(write(tag.resolve("current/link"), link, restore));
                            written.addAndGet(write(tag.resolve("index/sha256").resolve(hex).resolve("link"), link, restore));
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) f.get();
        }
        System.out.printf(Locale.ROOT, "seconds=%.1f manifests=%d tagged=%d blobs=%d files_written=%d%n", (System.nanoTime() - t0) / 1e9,
                manifests, manifests - firstTagged, manifests * blobs, written.get());
    }

    /** Writes the file (with {@code restore}: only if it is missing or not whole); returns 1 if it wrote. */
    static int write(Path file, byte[] content, boolean restore) throws IOException {
        if (restore) {
            try {
                if (Files.size(file) == content.length) return 0;
            } catch (java.nio.file.NoSuchFileException e) {
                // write it
            }
        }
        Files.createDirectories(file.getParent());
        Files.write(file, content);
        return 1;
    }

    // ---------------------------------------------------------------- GC with pushes going on

    record Pushed(String repo, String tag, List<String> blobs) {
    }

    /**
     * Starts a collection ({@code POST /api/v1/gc}) and, {@code delay-ms} later, pushers that keep pushing
     * small images (two blobs and a tagged manifest each) until {@code after-ms} past the end of the
     * collection. Then checks that every image pushed is still whole (manifest by tag, HEAD of each blob).
     */
    static void gcUnderLoad(Args a) throws Exception {
        Url base = Url.parse(a.get("url"));
        int pushers = (int) a.longOr("pushers", 8);
        long delayMs = a.longOr("delay-ms", 300);
        long afterMs = a.longOr("after-ms", 2000);
        long limitS = a.longOr("limit-s", 600);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong errors = new AtomicLong();
        AtomicLong maxPushNanos = new AtomicLong();
        ConcurrentLinkedQueue<String> errorSamples = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<Pushed> pushed = new ConcurrentLinkedQueue<>();
        List<long[]> latencies = Collections.synchronizedList(new ArrayList<>());
        String report;
        boolean gcFailed = false;
        String gcError = null;
        long gcWallMs;
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            long t0 = System.nanoTime();
            Conn gcConn = new Conn(base);
            Future<String> gc = pool.submit(() -> {
                try (gcConn) {
                    Resp r = gcConn.send("POST", "/api/v1/gc", Map.of("Content-Length", "0"), null, true);
                    r.expect(200, "POST /api/v1/gc");
                    return new String(r.body, StandardCharsets.UTF_8);
                }
            });
            Thread.sleep(delayMs);
            CountDownLatch done = new CountDownLatch(pushers);
            for (int p = 0; p < pushers; p++) {
                int id = p;
                pool.submit(() -> {
                    long[] lat = new long[1 << 16];
                    int n = 0;
                    String repo = "gc/live-" + id;
                    try (Conn c = new Conn(base)) {
                        for (int k = 0; !stop.get(); k++) {
                            long s0 = System.nanoTime();
                            try {
                                byte[] config = randomBytes(System.nanoTime() ^ ((long) id << 40) ^ k, 600, "live config " + id + " " + k);
                                byte[] layer = randomBytes(System.nanoTime() ^ ((long) id << 44) ^ k, 4000, "live layer " + id + " " + k);
                                pushBlobTwoStep(c, base, repo, config);
                                pushBlobTwoStep(c, base, repo, layer);
                                byte[] m = imageManifest(descriptor(OCI_CONFIG, config), List.of(descriptor(OCI_LAYER, layer)));
                                c.send("PUT", "/v2/" + repo + "/manifests/p" + k, Map.of("Content-Type", OCI_MANIFEST,
                                        "Content-Length", Integer.toString(m.length)), new BytesBody(m)).expect(201, "PUT manifest");
                                pushed.add(new Pushed(repo, "p" + k, List.of(sha256(config), sha256(layer))));
                            } catch (IOException | RuntimeException e) {
                                errors.incrementAndGet();
                                if (errorSamples.size() < 5) errorSamples.add(e.getMessage());
                                c.reset();
                            }
                            long took = System.nanoTime() - s0;
                            maxPushNanos.accumulateAndGet(took, Math::max);
                            if (n < lat.length) lat[n++] = took;
                        }
                    } catch (IOException e) {
                        errors.incrementAndGet();
                        errorSamples.add(e.toString());
                    } finally {
                        latencies.add(java.util.Arrays.copyOf(lat, n));
                        done.countDown();
                    }
                    return null;
                });
            }
            try {
                report = gc.get(limitS, java.util.concurrent.TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                report = "{\"tookMillis\":-1}"; // still collecting: bench/run reports it as over the limit
                gcConn.close();
            } catch (java.util.concurrent.ExecutionException e) {
                // the collection answered an error (out of memory, say): the pushers still stop and are checked
                report = "{}";
                gcFailed = true;
                gcError = "collection: " + e.getCause();
            }
            gcWallMs = (System.nanoTime() - t0) / 1_000_000;
            Thread.sleep(afterMs);
            stop.set(true);
            done.await();
        }
        // Verification: every image a pusher was told was stored must still be whole.
        long missing = 0;
        try (Conn c = new Conn(base)) {
            for (Pushed p : pushed) {
                if (c.send("GET", "/v2/" + p.repo() + "/manifests/" + p.tag(), Map.of("Accept", OCI_MANIFEST), null).status != 200) missing++;
                for (String b : p.blobs()) {
                    if (c.send("HEAD", "/v2/" + p.repo() + "/blobs/" + b, Map.of(), null).status != 200) missing++;
                }
            }
        }
        long[] all = latencies.stream().flatMapToLong(java.util.Arrays::stream).sorted().toArray();
        System.out.printf(Locale.ROOT, "took_ms=%s wall_ms=%d evicted_units=%d deleted_blobs=%d before=%s after=%s pushes=%d push_errors=%d "
                        + "push_p50_ms=%.1f push_p99_ms=%.1f push_max_ms=%.1f missing_after=%d%s%n",
                gcFailed ? "failed" : field(report, "tookMillis"), gcWallMs, longField(report, "evictedCount"), longField(report, "blobCount"),
                field(report, "storedBytesBefore"), field(report, "storedBytesAfter"), pushed.size(), errors.get(),
                pct(all, 50) / 1e6, pct(all, 99) / 1e6, maxPushNanos.get() / 1e6, missing,
                gcError != null ? " first_error=" + gcError.replace(' ', '_')
                        : errorSamples.isEmpty() ? "" : " first_error=" + String.valueOf(errorSamples.peek()).replace(' ', '_'));
    }

    static String field(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\"\\s*:\\s*(-?\\d+)").matcher(json);
        return m.find() ? m.group(1) : "?";
    }

    /** A count the report gives (it lists only the first thousand of what it counts); 0 when it failed. */
    static long longField(String json, String name) {
        String value = field(json, name);
        return value.equals("?") ? 0 : Long.parseLong(value);
    }

    // ---------------------------------------------------------------- OCI documents

    static String descriptor(String mediaType, byte[] content) throws Exception {
        return "{\"mediaType\":\"" + mediaType + "\",\"digest\":\"" + sha256(content) + "\",\"size\":" + content.length + "}";
    }

    static byte[] imageManifest(String config, List<String> layers) {
        return ("{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\",\"config\":" + config + ",\"layers\":["
                + String.join(",", layers) + "]}").getBytes(StandardCharsets.UTF_8);
    }

    /** POST then PUT with the whole blob: the upload every registry takes. */
    static void pushBlobTwoStep(Conn c, Url base, String repo, byte[] blob) throws Exception {
        Resp r = c.send("POST", "/v2/" + repo + "/blobs/uploads/", Map.of("Content-Length", "0"), null);
        r.expect(202, "POST upload");
        c.send("PUT", withQuery(r.location(base), "digest=" + sha256(blob)), Map.of("Content-Type", "application/octet-stream",
                "Content-Length", Integer.toString(blob.length)), new BytesBody(blob)).expect(201, "PUT blob");
    }

    static byte[] randomBytes(long seed, int size, String label) {
        byte[] b = new byte[size];
        new SplittableRandom(seed).nextBytes(b);
        byte[] l = (label + "\n").getBytes(StandardCharsets.UTF_8);
        System.arraycopy(l, 0, b, 0, Math.min(l.length, size));
        return b;
    }

    static String sha256(byte[] b) {
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String withQuery(String location, String query) {
        return location + (location.contains("?") ? "&" : "?") + query;
    }

    static double pct(long[] sorted, double p) {
        if (sorted.length == 0) return 0;
        int i = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }

    // ---------------------------------------------------------------- a small HTTP/1.1 client

    record Url(String host, int port, String path) {
        static Url parse(String s) {
            Matcher m = Pattern.compile("http://([^/:]+):(\\d+)(/.*)?").matcher(s);
            if (!m.matches()) throw new IllegalArgumentException("not an http://host:port/ URL: " + s);
            return new Url(m.group(1), Integer.parseInt(m.group(2)), m.group(3) == null ? "/" : m.group(3));
        }
    }

    interface Body {
        void writeTo(SocketChannel ch) throws IOException;
    }

    record BytesBody(byte[] bytes) implements Body {
        public void writeTo(SocketChannel ch) throws IOException {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) ch.write(b);
        }
    }

    /** A file region sent with sendfile(2): the generator never copies the bytes itself. */
    record FileBody(FileChannel file, long offset, long length) implements Body {
        public void writeTo(SocketChannel ch) throws IOException {
            long pos = offset;
            long end = offset + length;
            while (pos < end) {
                long n = file.transferTo(pos, end - pos, ch);
                if (n <= 0) throw new IOException("transferTo made no progress");
                pos += n;
            }
        }
    }

    static final class Resp {
        int status;
        Map<String, String> headers = new HashMap<>();
        long bodyLength;
        byte[] body;

        void expect(int want, String what) throws IOException {
            if (status != want) {
                throw new IOException(what + ": HTTP " + status + " (wanted " + want + ")"
                        + (body != null ? " " + new String(body, 0, Math.min(body.length, 300), StandardCharsets.UTF_8) : ""));
            }
        }

        String location(Url base) throws IOException {
            String l = headers.get("location");
            if (l == null) throw new IOException("no Location in answer " + status);
            if (l.startsWith("http://")) {
                Url u = Url.parse(l);
                return u.path;
            }
            return l;
        }
    }

    static final class Conn implements Closeable {
        private final Url url;
        private SocketChannel ch;
        private final ByteBuffer in = ByteBuffer.allocate(1 << 16);
        private ByteBuffer drain;
        private boolean reused;

        Conn(Url url) throws IOException {
            this.url = url;
            open();
        }

        private void open() throws IOException {
            ch = SocketChannel.open(new InetSocketAddress(url.host, url.port));
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            in.clear().flip();
            reused = false;
        }

        void reset() {
            try {
                ch.close();
                open();
            } catch (IOException e) {
                // the next send fails and says why
            }
        }

        Resp send(String method, String path, Map<String, String> headers, Body body) throws IOException {
            return send(method, path, headers, body, false);
        }

        /** Sends one request and reads its answer; small error bodies and, with {@code keepBody}, any body are kept. */
        Resp send(String method, String path, Map<String, String> headers, Body body, boolean keepBody) throws IOException {
            if (!ch.isOpen()) open();
            boolean retryable = reused && (body == null || body instanceof BytesBody);
            try {
                return exchange(method, path, headers, body, keepBody);
            } catch (IOException e) {
                if (!retryable) throw e;
                ch.close(); // the server closed an idle keep-alive connection: once more on a new one
                open();
                return exchange(method, path, headers, body, keepBody);
            }
        }

        private Resp exchange(String method, String path, Map<String, String> headers, Body body, boolean keepBody) throws IOException {
            StringBuilder head = new StringBuilder(256).append(method).append(' ').append(path).append(" HTTP/1.1\r\nHost: ")
                    .append(url.host).append(':').append(url.port).append("\r\nUser-Agent: cairn-bench\r\n");
            for (Map.Entry<String, String> h : headers.entrySet()) head.append(h.getKey()).append(": ").append(h.getValue()).append("\r\n");
            head.append("\r\n");
            ByteBuffer hb = ByteBuffer.wrap(head.toString().getBytes(StandardCharsets.ISO_8859_1));
            while (hb.hasRemaining()) ch.write(hb);
            if (body != null) body.writeTo(ch);
            Resp r = readHead();
            boolean isHead = method.equals("HEAD");
            String te = r.headers.get("transfer-encoding");
            boolean keep = keepBody || r.status >= 400;
            if (isHead || r.status == 204 || r.status == 304) {
                r.bodyLength = 0;
            } else if (te != null && te.toLowerCase(Locale.ROOT).contains("chunked")) {
                readChunked(r, keep);
            } else if (r.headers.containsKey("content-length")) {
                readBody(r, Long.parseLong(r.headers.get("content-length").strip()), keep);
            } else {
                readBody(r, Long.MAX_VALUE, keep); // until close
                ch.close();
            }
            String connection = r.headers.get("connection");
            if (connection != null && connection.equalsIgnoreCase("close")) ch.close();
            reused = true;
            return r;
        }

        private boolean fill() throws IOException {
            in.compact();
            int n = ch.read(in);
            in.flip();
            return n > 0;
        }

        private String readLine() throws IOException {
            StringBuilder line = new StringBuilder();
            while (true) {
                while (in.hasRemaining()) {
                    char ch = (char) (in.get() & 0xff);
                    if (ch == '\n') {
                        int len = line.length();
                        if (len > 0 && line.charAt(len - 1) == '\r') line.setLength(len - 1);
                        return line.toString();
                    }
                    line.append(ch);
                }
                if (!fill()) throw new IOException("connection closed by the server");
            }
        }

        private Resp readHead() throws IOException {
            Resp r = new Resp();
            String status = readLine();
            if (!status.startsWith("HTTP/1.")) throw new IOException("not an HTTP answer: " + status);
            r.status = Integer.parseInt(status.substring(9, 12));
            String line;
            while (!(line = readLine()).isEmpty()) {
                int colon = line.indexOf(':');
                if (colon > 0) r.headers.putIfAbsent(line.substring(0, colon).strip().toLowerCase(Locale.ROOT), line.substring(colon + 1).strip());
            }
            return r;
        }

        private void readBody(Resp r, long length, boolean keep) throws IOException {
            ByteArrayOutputStream kept = keep ? new ByteArrayOutputStream() : null;
            long left = length;
            long total = 0;
            while (left > 0) {
                if (in.hasRemaining()) {
                    int n = (int) Math.min(in.remaining(), left);
                    if (kept != null) kept.write(in.array(), in.arrayOffset() + in.position(), n);
                    in.position(in.position() + n);
                    left -= n;
                    total += n;
                    continue;
                }
                if (kept == null) {
                    // large bodies: straight from the socket into a direct buffer, dropped
                    if (drain == null) drain = ByteBuffer.allocateDirect(1 << 20);
                    drain.clear();
                    if (left < drain.capacity()) drain.limit((int) left);
                    int n = ch.read(drain);
                    if (n < 0) {
                        if (length == Long.MAX_VALUE) break;
                        throw new IOException("body ended " + left + " bytes early");
                    }
                    left -= n;
                    total += n;
                } else if (!fill()) {
                    if (length == Long.MAX_VALUE) break;
                    throw new IOException("body ended " + left + " bytes early");
                }
            }
            r.bodyLength = total;
            if (kept != null) r.body = kept.toByteArray();
        }

        private void readChunked(Resp r, boolean keep) throws IOException {
            ByteArrayOutputStream kept = keep ? new ByteArrayOutputStream() : null;
            long total = 0;
            while (true) {
                String sizeLine = readLine();
                int semi = sizeLine.indexOf(';');
                long size = Long.parseLong((semi >= 0 ? sizeLine.substring(0, semi) : sizeLine).strip(), 16);
                if (size == 0) {
                    while (!readLine().isEmpty()) {
                        // trailers
                    }
                    break;
                }
                Resp part = new Resp();
                readBody(part, size, keep);
                if (kept != null) kept.write(part.body);
                total += size;
                readLine();
            }
            r.bodyLength = total;
            if (kept != null) r.body = kept.toByteArray();
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    static final class Args {
        private final Map<String, String> values = new LinkedHashMap<>();

        Args(String[] argv) {
            for (int i = 1; i < argv.length; i++) {
                if (!argv[i].startsWith("--")) throw new IllegalArgumentException("unexpected argument " + argv[i]);
                String key = argv[i].substring(2);
                if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) values.put(key, argv[++i]);
                else values.put(key, "true");
            }
        }

        boolean has(String k) {
            return values.containsKey(k);
        }

        String get(String k) {
            String v = values.get(k);
            if (v == null) throw new IllegalArgumentException("--" + k + " is required");
            return v;
        }

        String getOr(String k, String d) {
            return values.getOrDefault(k, d);
        }

        long longOr(String k, long d) {
            return values.containsKey(k) ? Long.parseLong(values.get(k)) : d;
        }

        double doubleOr(String k, double d) {
            return values.containsKey(k) ? Double.parseDouble(values.get(k)) : d;
        }
    }
}
