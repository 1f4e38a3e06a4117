package dev.cairn.it;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.S3Server;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * As {@link ScaleOutBuildahRunnersIT}, with {@code storage.redirect: true} on every node: a blob GET is
 * answered with a 307 to a presigned URL of the bucket, so runner B's layers come from S3Proxy, not from
 * node 2. The access log shows node 2 redirected every blob read and sent no blob bytes, yet runner B
 * rebuilt runner A's very image: buildah followed the redirects.
 */
class ScaleOutRedirectBuildahRunnersIT extends ScaleOutBuildahRunnersIT {
    @Override
    boolean redirect() {
        return true;
    }

    @Override
    void checkHowRunnerBGotItsLayers(CiRunner.Build runnerB) throws Exception {
        List<ScaleOutNodes.Request> blobReads = nodes.requests(2).stream().filter(ScaleOutNodes.Request::isBlobRead).toList();
        System.out.println("node 2's blob reads for runner B: " + blobReads);
        assertThat(blobReads).as("runner B read the base image's and every step's blobs through node 2").hasSizeGreaterThanOrEqualTo(6);
        assertThat(blobReads).as("node 2 redirected every blob read and sent no blob bytes itself")
                .allMatch(r -> r.status() == 307 && r.sent() == 0);

        // The same read by hand: a 307 to the bucket, whose presigned URL serves the blob's very bytes.
        String path = blobReads.getFirst().path();
        String digest = path.substring(path.lastIndexOf('/') + 1);
        HttpResponse<byte[]> answer = nodes.client(2).get(path);
        assertThat(answer.statusCode()).isEqualTo(307);
        URI direct = URI.create(answer.headers().firstValue("Location").orElseThrow());
        S3Server s3 = S3Server.shared();
        assertThat(direct.getHost()).isEqualTo("127.0.0.1");
        assertThat(direct.getPort()).isEqualTo(s3.port());
        assertThat(direct.getQuery()).contains("X-Amz-Signature");
        HttpResponse<byte[]> fetched = HttpClient.newHttpClient().send(HttpRequest.newBuilder(direct).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertThat(fetched.statusCode()).isEqualTo(200);
        assertThat(OciClient.sha256(fetched.body())).isEqualTo(digest);
    }
}
