package dev.cairn.it;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.BaseImage;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.Processes;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Explicit invalidation, shown with real buildah runners and the real CLI: once {@code cairn invalidate}
 * has evicted a repository's cache entries, a runner with empty storage misses every step and runs it
 * again, where before the invalidation the same build took every step from Cairn. A dry run first shows
 * what would go and deletes nothing; the real run leaves one audit record per manifest it deleted.
 */
class InvalidationIT {
    private static final Path ROOT = Path.of("").toAbsolutePath();
    private static final String CACHE_REPOSITORY = "cache/app";
    /** Each RUN prints {@code cairn-invalidate-ran-NAME}, a line the echoed instruction itself never contains. */
    private static final List<String> RUNS = List.of("one", "two", "three");
    private static final Pattern NEXT_PAGE = Pattern.compile("<([^>]+)>;\\s*rel=\"next\"");

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void afterInvalidationAFreshRunnerRebuildsEveryStep() throws Exception {
        try (RunningCairn cairn = RunningCairn.start()) {
            OciClient oci = new OciClient(cairn);
            String cache = cairn.hostPort() + "/" + CACHE_REPOSITORY;
            String base = BaseImage.pushTo(cairn.hostPort(), "base/busybox", "latest");
            Map<String, String> context = Map.of("Dockerfile", """
                    FROM %s
                    RUN n=one && echo "cairn-invalidate-ran-$n" && echo one > /one.txt
                    RUN n=two && echo "cairn-invalidate-ran-$n" && sleep 1 && mkdir -p /app && date > /app/built-at
                    RUN n=three && echo "cairn-invalidate-ran-$n" && wc -c /app/built-at > /app/built-at.size
                    """.formatted(base));

            CiRunner.Build runnerA = build("A", context, cache);
            assertThat(runnerA.steps()).as(runnerA.output()).hasSize(1 + RUNS.size());
            assertThat(runnerA.stepsAfterFrom()).as("runner A starts empty and runs every step:\n" + runnerA.output())
                    .noneMatch(CiRunner.Step::usedCache);
            assertRan(runnerA, true);

            CiRunner.Build runnerB = build("B", context, cache);
            assertThat(runnerB.stepsAfterFrom()).as("before invalidation a fresh runner takes every step from Cairn:\n" + runnerB.output())
                    .hasSize(RUNS.size()).allMatch(CiRunner.Step::usedCache);
            assertRan(runnerB, false);
            assertThat(runnerB.imageId()).isEqualTo(runnerA.imageId());

            Map<String, String> digestByTag = cacheTags(oci);
            assertThat(digestByTag).as("buildah --cache-to leaves one tag per step").hasSizeGreaterThanOrEqualTo(RUNS.size());
            Set<String> cachedManifests = Set.copyOf(digestByTag.values());

            Path audit = cairn.dataDir().resolve("audit.log");
            Processes.Result dryRun = cairnCli("invalidate", "cache/**", "--server", "http://" + cairn.hostPort(), "--dry-run");
            assertThat(dryRun.exitCode()).as(dryRun.output()).isZero();
            for (String digest : cachedManifests) {
                assertThat(dryRun.output()).as("the dry run names " + digest)
                        .containsPattern("would invalidate " + Pattern.quote(CACHE_REPOSITORY + "@" + shortDigest(digest)) + ".*: invalidated");
            }
            assertThat(dryRun.output()).contains(cachedManifests.size() + " entr(ies)");
            for (Map.Entry<String, String> tag : digestByTag.entrySet()) {
                assertThat(manifest(oci, tag.getKey()).statusCode()).as("the dry run deleted nothing: tag " + tag.getKey()).isEqualTo(200);
            }
            assertThat(invalidatedManifests(audit)).as("a dry run writes no audit record").isEmpty();

            Processes.Result invalidation = cairnCli("invalidate", "cache/**", "--server", "http://" + cairn.hostPort());
            assertThat(invalidation.exitCode()).as(invalidation.output()).isZero();
            for (String digest : cachedManifests) {
                assertThat(invalidation.output()).as("the invalidation names " + digest)
                        .containsPattern("(?m)^invalidated " + Pattern.quote(CACHE_REPOSITORY + "@" + shortDigest(digest)) + ".*: invalidated$");
            }
            assertThat(invalidation.output()).contains(cachedManifests.size() + " entr(ies)");
            for (String tag : digestByTag.keySet()) {
                HttpResponse<byte[]> gone = manifest(oci, tag);
                assertThat(gone.statusCode()).as("tag " + tag + " after invalidation: " + OciClient.text(gone)).isEqualTo(404);
            }
            for (String digest : cachedManifests) {
                assertThat(manifest(oci, digest).statusCode()).as("manifest " + digest + " after invalidation").isEqualTo(404);
            }

            List<JsonNode> records = invalidatedManifests(audit);
            assertThat(records).as("audit log:\n" + Files.readString(audit))
                    .allSatisfy(r -> {
                        assertThat(r.path("repository").asText()).isEqualTo(CACHE_REPOSITORY);
                        assertThat(r.path("bytes").asLong()).isPositive();
                        assertThat(r.path("time").asText()).isNotEmpty();
                    });
            assertThat(records.stream().map(r -> r.path("digest").asText()).collect(Collectors.toSet()))
                    .as("one 'invalidated' manifest record for every invalidated manifest; audit log:\n" + Files.readString(audit))
                    .isEqualTo(cachedManifests);
            assertThat(records).hasSize(cachedManifests.size());

            CiRunner.Build runnerC = build("C", context, cache);
            System.out.printf("buildah runner A: %s, runner B (from cache): %s, runner C (after invalidation): %s%n",
                    runnerA.seconds(), runnerB.seconds(), runnerC.seconds());
            assertThat(runnerC.stepsAfterFrom()).as("after invalidation every RUN misses and runs again:\n" + runnerC.output())
                    .hasSize(RUNS.size()).noneMatch(CiRunner.Step::usedCache);
            assertThat(runnerC.usingCacheLines()).as(runnerC.output()).isZero();
            assertRan(runnerC, true);
            // RUN date makes a layer no rebuild reproduces: a different image means the steps really ran again
            assertThat(runnerC.imageId()).isNotEqualTo(runnerA.imageId());
            Map<String, String> refilled = cacheTags(oci);
            assertThat(refilled).as("runner C's --cache-to fills the cache again").hasSizeGreaterThanOrEqualTo(RUNS.size());
            assertThat(Set.copyOf(refilled.values())).as("with new manifests, not the invalidated ones")
                    .doesNotContainAnyElementsOf(cachedManifests);
        }
    }

    private static CiRunner.Build build(String name, Map<String, String> context, String cache) throws Exception {
        try (CiRunner runner = CiRunner.fresh(CiRunner.Client.BUILDAH, name)) {
            return runner.build(runner.checkout(context), cache);
        }
    }

    private static void assertRan(CiRunner.Build build, boolean ran) {
        for (String run : RUNS) {
            assertThat(build.printedLine("cairn-invalidate-ran-" + run))
                    .as(build.runner() + (ran ? " runs " : " must not run ") + run + ":\n" + build.output()).isEqualTo(ran);
        }
    }

    /** Every tag of the cache repository and the digest of the manifest it names, following pagination. */
    private static Map<String, String> cacheTags(OciClient oci) {
        Map<String, String> digestByTag = new LinkedHashMap<>();
        String next = "/v2/" + CACHE_REPOSITORY + "/tags/list";
        while (next != null) {
            HttpResponse<byte[]> page = oci.get(next);
            assertThat(page.statusCode()).as(OciClient.text(page)).isEqualTo(200);
            for (JsonNode tag : OciClient.json(page).path("tags")) {
                HttpResponse<byte[]> manifest = manifest(oci, tag.asText());
                assertThat(manifest.statusCode()).as("tag " + tag + ": " + OciClient.text(manifest)).isEqualTo(200);
                digestByTag.put(tag.asText(), manifest.headers().firstValue("Docker-Content-Digest").orElseThrow());
            }
            next = page.headers().firstValue("Link").map(NEXT_PAGE::matcher).filter(Matcher::find).map(m -> m.group(1)).orElse(null);
        }
        return digestByTag;
    }

    /** A manifest GET with no Accept header, which takes any media type. */
    private static HttpResponse<byte[]> manifest(OciClient oci, String reference) {
        return oci.get("/v2/" + CACHE_REPOSITORY + "/manifests/" + reference);
    }

    private static Processes.Result cairnCli(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(ROOT.resolve("bin/cairn").toString()));
        command.addAll(List.of(args));
        Processes.Result result = Processes.run(command, Duration.ofMinutes(1));
        System.out.println("$ cairn " + String.join(" ", args) + "\n" + result.output().strip());
        return result;
    }

    /** The audit log's manifest records with reason "invalidated". */
    private static List<JsonNode> invalidatedManifests(Path audit) throws IOException {
        if (!Files.exists(audit)) return List.of();
        List<JsonNode> records = new ArrayList<>();
        for (String line : Files.readAllLines(audit)) {
            if (line.isBlank()) continue;
            JsonNode record = OciClient.JSON.readTree(line);
            if (record.path("kind").asText().equals("manifest") && record.path("reason").asText().equals("invalidated")) {
                records.add(record);
            }
        }
        return records;
    }

    private static String shortDigest(String digest) {
        return digest.length() > 19 ? digest.substring(0, 19) : digest;
    }
}
