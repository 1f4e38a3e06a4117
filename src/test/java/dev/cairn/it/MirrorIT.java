package dev.cairn.it;

import dev.cairn.testing.BaseImage;
import dev.cairn.testing.DistributionRegistry;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.Processes;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * podman pulls a base image through Cairn's mirror as containers-registries.conf sets it up ({@code [[registry.mirror]]}
 * with Cairn's address and the mirror's prefix): the image comes from the upstream (Distribution) through Cairn,
 * and with the upstream stopped a runner with empty storage still pulls it, from Cairn.
 */
class MirrorIT {
    @Test
    void podmanPullsThroughTheMirrorAndStillPullsWithTheUpstreamDown() throws Exception {
        try (DistributionRegistry upstream = DistributionRegistry.start()) {
            BaseImage.pushTo(upstream.hostPort(), "library/busybox", "stable");
            try (RunningCairn cairn = RunningCairn.start(Map.of("mirrors", "[{prefix: hub, upstream: '" + upstream.url() + "', ttl: 1s}]"))) {
                // the name builds use names the upstream; registries.conf sends the pull to Cairn's mirror first
                String conf = """
                        [[registry]]
                        location = "%s"
                        insecure = true
                        [[registry.mirror]]
                        location = "%s/hub"
                        insecure = true
                        """.formatted(upstream.hostPort(), cairn.hostPort());
                String image = upstream.hostPort() + "/library/busybox:stable";
                try (CiRunner first = CiRunner.fresh(CiRunner.Client.PODMAN, "A")) {
                    Path registries = Files.writeString(first.home().resolve("registries.conf"), conf);
                    Processes.Result pulled = first.run(Map.of("CONTAINERS_REGISTRIES_CONF", registries.toString()), null, "pull", image);
                    assertThat(pulled.exitCode()).as(pulled.output()).isZero();
                }
                var stats = OciClient.json(new OciClient(cairn).get("/api/v1/stats")).path("mirrors").get(0);
                assertThat(stats.path("fetched").asLong()).as("the pull went through the mirror").isEqualTo(1);
                assertThat(upstream.requests("GET /v2/library/busybox/blobs/")).isPositive();

                upstream.stop();
                Thread.sleep(1_500); // past the TTL: the mirror asks the upstream, which is gone
                try (CiRunner second = CiRunner.fresh(CiRunner.Client.PODMAN, "B")) {
                    Path registries = Files.writeString(second.home().resolve("registries.conf"), conf);
                    Processes.Result pulled = second.run(Map.of("CONTAINERS_REGISTRIES_CONF", registries.toString()), null, "pull", image);
                    assertThat(pulled.exitCode()).as("served stale from the mirror: " + pulled.output()).isZero();
                }
                var after = OciClient.json(new OciClient(cairn).get("/api/v1/stats")).path("mirrors").get(0);
                assertThat(after.path("stale").asLong()).isPositive();
                assertThat(after.path("upstreamFailures").asLong()).isPositive();
            }
        }
    }

    /**
     * dockerd with {@code --registry-mirror} asks Cairn for Docker Hub's names without a prefix
     * ({@code /v2/library/busybox/...}): the default mirror answers them from its upstream (Distribution here; dockerd's
     * own way out is a proxy address where nothing listens, so nothing leaves the machine). buildah, with a
     * registries.conf mirror that names Cairn without a prefix, pulls the upstream's image through the same mirror,
     * and a push of the runners' own cache into a name of their choosing still works beside it.
     */
    @Test
    void dockerdAndBuildahPullThroughTheDefaultMirror() throws Exception {
        try (DistributionRegistry upstream = DistributionRegistry.start()) {
            BaseImage.pushTo(upstream.hostPort(), "library/busybox", "stable");
            try (RunningCairn cairn = RunningCairn.start(Map.of("mirrors", "[{prefix: '', upstream: '" + upstream.url() + "', ttl: 1h}]"))) {
                Path work = Files.createTempDirectory(Path.of("/tmp"), "cairn-dm-");
                try (DockerDaemon daemon = DockerDaemon.start(work.resolve("d"), cairn.hostPort(), work.resolve("cfg"),
                        java.util.List.of("--registry-mirror", "http://" + cairn.hostPort()))) {
                    daemon.docker(java.time.Duration.ofMinutes(2), "pull", "busybox:stable");
                    assertThat(daemon.rootFsLayers("busybox:stable")).isNotEmpty();
                } finally {
                    dev.cairn.testing.TempFiles.deleteRecursively(work);
                }
                var stats = OciClient.json(new OciClient(cairn).get("/api/v1/stats")).path("mirrors").get(0);
                assertThat(stats.path("prefix").asText()).isEmpty();
                assertThat(stats.path("fetched").asLong()).as("dockerd's pull went through the default mirror").isEqualTo(1);
                long blobReads = upstream.requests("GET /v2/library/busybox/blobs/");
                assertThat(blobReads).isPositive();

                String conf = """
                        [[registry]]
                        location = "%s"
                        insecure = true
                        [[registry.mirror]]
                        location = "%s"
                        insecure = true
                        """.formatted(upstream.hostPort(), cairn.hostPort());
                try (CiRunner runner = CiRunner.fresh(CiRunner.Client.BUILDAH, "A")) {
                    Path registries = Files.writeString(runner.home().resolve("registries.conf"), conf);
                    Map<String, String> env = Map.of("CONTAINERS_REGISTRIES_CONF", registries.toString());
                    Processes.Result pulled = runner.run(env, null, "pull", upstream.hostPort() + "/library/busybox:stable");
                    assertThat(pulled.exitCode()).as(pulled.output()).isZero();
                    assertThat(upstream.requests("GET /v2/library/busybox/blobs/")).as("buildah's pull read no blob upstream: Cairn had them")
                            .isEqualTo(blobReads);
                    Processes.Result tagged = runner.run(env, null, "tag", upstream.hostPort() + "/library/busybox:stable",
                            cairn.hostPort() + "/team/base:v1");
                    assertThat(tagged.exitCode()).as(tagged.output()).isZero();
                    Processes.Result pushed = runner.run(env, null, "push", "--tls-verify=false", cairn.hostPort() + "/team/base:v1");
                    assertThat(pushed.exitCode()).as("a repository of the runners' own beside the mirror: " + pushed.output()).isZero();
                    Processes.Result refused = runner.run(env, null, "push", "--tls-verify=false", upstream.hostPort() + "/library/busybox:stable",
                            "docker://" + cairn.hostPort() + "/library/busybox:mine");
                    assertThat(refused.exitCode()).as("the mirror's repository takes no push").isNotZero();
                    assertThat(refused.output()).containsIgnoringCase("denied");
                }
            }
        }
    }
}
