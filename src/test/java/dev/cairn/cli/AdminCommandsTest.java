package dev.cairn.cli;

import dev.cairn.testing.CairnCli;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/** cairn stats, gc and invalidate against a running node, as an operator runs them. */
class AdminCommandsTest {
    private static CairnCli.Run cairn(String... args) {
        return CairnCli.run(args);
    }

    @Test
    void statsGcAndInvalidate() throws Exception {
        // No grace window: an entry the collector evicts goes at once, even one this test has just read
        // (with a window it would be retired, still readable by digest, for the reader's sake).
        try (RunningCairn node = RunningCairn.start(Map.of("retention.max-bytes", "10GiB", "retention.untagged", "delete-after 1s",
                "retention.grace", "0s"))) {
            OciClient client = new OciClient(node);
            String server = "http://" + node.hostPort();
            OciClient.Image app = client.prepareImage("team/app", "application/vnd.oci.image.config.v1+json", new byte[4096]);
            client.pushManifest("team/app", "main", OCI_MANIFEST, app.manifest());
            OciClient.Image loose = client.prepareImage("team/app", "application/vnd.oci.image.config.v1+json", new byte[10]);
            client.pushManifest("team/app", loose.digest(), OCI_MANIFEST, loose.manifest());
            client.get("/v2/team/app/manifests/main");
            client.get("/v2/team/app/manifests/main");
            client.get("/v2/team/app/manifests/missing");

            CairnCli.Run stats = cairn("stats", "--server", server);
            assertThat(stats.exit()).as(stats.err()).isZero();
            assertThat(stats.out()).contains("of a 10.0GiB budget");
            assertThat(stats.out()).containsPattern("team/app\\s+2\\s+1\\s+\\S+\\s+2\\s+1\\s+20\\d\\d-");
            assertThat(client.put("/cache/ccache/ab/cd", new byte[100]).statusCode()).isEqualTo(201);
            assertThat(client.get("/cache/ccache/ab/cd").statusCode()).isEqualTo(200);
            assertThat(client.get("/cache/ccache/ab/none").statusCode()).isEqualTo(404);
            CairnCli.Run withKeys = cairn("stats", "--server", server);
            assertThat(withKeys.out()).as("a line per namespace of the build-tool cache: keys, bytes, hits, misses, ratios, time saved")
                    .contains("NAMESPACE").containsPattern("cache\\s+ccache\\s+1\\s+\\S+\\s+1\\s+1\\s+50%\\s+50%\\s+0s\\s+20\\d\\d-");

            Thread.sleep(1100);
            CairnCli.Run dryRun = cairn("gc", "--dry-run", "--server", server);
            assertThat(dryRun.exit()).isZero();
            assertThat(dryRun.out()).contains("would evict team/app@" + loose.digest().substring(0, 19)).contains("untagged");
            assertThat(client.head("/v2/team/app/manifests/" + loose.digest()).statusCode()).isEqualTo(200);

            CairnCli.Run gc = cairn("gc", "--server", server);
            assertThat(gc.out()).contains("evicted team/app@" + loose.digest().substring(0, 19)).contains("untagged");
            assertThat(client.head("/v2/team/app/manifests/" + loose.digest()).statusCode()).isEqualTo(404);

            CairnCli.Run invalidate = cairn("invalidate", "team/**", "--tag", "ma*", "--server", server);
            assertThat(invalidate.exit()).isZero();
            assertThat(invalidate.out()).contains("invalidated team/app@" + app.digest().substring(0, 19)).contains("[\"main\"]");
            assertThat(client.get("/v2/team/app/manifests/main").statusCode()).isEqualTo(404);

            // a cross-site form cannot trigger it: only JSON is taken
            var form = client.post("/api/v1/invalidate", "repositories=team/**".getBytes(), "Content-Type", "application/x-www-form-urlencoded");
            assertThat(form.statusCode()).isEqualTo(400);
            assertThat(OciClient.errorCode(form)).isEqualTo("INVALID_REQUEST");

            CairnCli.Run unreachable = cairn("stats", "--server", "http://127.0.0.1:1");
            assertThat(unreachable.exit()).isEqualTo(1);
            assertThat(unreachable.err()).contains("cannot reach Cairn");
        }
    }
}
