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
}
