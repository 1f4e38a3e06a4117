package dev.cairn.it;

import dev.cairn.testing.Postgres;
import dev.cairn.testing.S3Server;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue #5: buildah runners share a layer cache through different nodes of one scale-out Cairn (three
 * processes over one S3 bucket and one PostgreSQL database). Runner A builds and pushes its cache through
 * node 1; runner B, with empty storage, builds through node 2 and takes every step from the cache;
 * runner C, with a changed COPY input, builds through node 3. Here node 2 streams the blobs itself.
 */
class ScaleOutBuildahRunnersIT extends RunnersShareLayerCacheContract {
    ScaleOutNodes nodes;

    @Override
    CiRunner.Client client() {
        return CiRunner.Client.BUILDAH;
    }

    /** {@code storage.redirect} on every node. */
    boolean redirect() {
        return false;
    }

    @Override
    SharedCache startCairn() throws Exception {
        nodes = ScaleOutNodes.start(S3Server.shared(), Postgres.shared(), 3, Map.of(
                "storage.s3.part-size", "5MiB",
                "storage.redirect", Boolean.toString(redirect())));
        return new SharedCache() {
            @Override
            public String hostPortFor(String runner) {
                return nodes.node(switch (runner) {
                    case "A" -> 1;
                    case "B" -> 2;
                    default -> 3;
                }).hostPort();
            }

            @Override
            public void close() throws Exception {
                nodes.close();
            }
        };
    }

    /** Runner B went to node 2 only, and node 2 sent it every blob's bytes itself. */
    @Override
    void checkHowRunnerBGotItsLayers(CiRunner.Build runnerB) throws Exception {
        List<ScaleOutNodes.Request> blobReads = nodes.requests(2).stream().filter(ScaleOutNodes.Request::isBlobRead).toList();
        System.out.println("node 2's blob reads for runner B: " + blobReads);
        assertThat(blobReads).as("runner B pulled the base image and every step's layers through node 2").hasSizeGreaterThanOrEqualTo(6);
        assertThat(blobReads).as("without redirects node 2 streams the blobs").allMatch(r -> r.status() == 200 && r.sent() > 0);
    }
}
