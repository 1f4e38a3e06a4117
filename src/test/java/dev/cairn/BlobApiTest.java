package dev.cairn;

import dev.cairn.testing.SeededBytes;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.OneCairnPerClass;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.Arrays;

import static dev.cairn.testing.OciClient.errorCode;
import static dev.cairn.testing.OciClient.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/** Blob reads and deletes: end-2 (with ranges) and end-10. */
class BlobApiTest extends OneCairnPerClass {
    static byte[] blob;
    static String digest;

    @BeforeAll
    static void fixtures() {
        blob = SeededBytes.of(100_000, 42);
        digest = client.pushBlob("blobs/app", blob);
    }

    @Test
    void getAndHeadServeTheBlobWithItsDigest() {
        HttpResponse<byte[]> get = client.get("/v2/blobs/app/blobs/" + digest);
        assertThat(get.statusCode()).isEqualTo(200);
        assertThat(get.body()).isEqualTo(blob);
        assertThat(get.headers().firstValue("Docker-Content-Digest")).hasValue(digest);
        assertThat(get.headers().firstValue("Content-Length")).hasValue("100000");
        assertThat(get.headers().firstValue("Content-Type")).hasValue("application/octet-stream");

        HttpResponse<byte[]> head = client.head("/v2/blobs/app/blobs/" + digest);
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.body()).isEmpty();
        assertThat(head.headers().firstValue("Content-Length")).hasValue("100000");
        assertThat(head.headers().firstValue("Docker-Content-Digest")).hasValue(digest);
    }

    @Test
    void rangesAre206WithContentRange() {
        HttpResponse<byte[]> r = client.get("/v2/blobs/app/blobs/" + digest, "Range", "bytes=1000-1999");
        assertThat(r.statusCode()).isEqualTo(206);
        assertThat(r.body()).isEqualTo(Arrays.copyOfRange(blob, 1000, 2000));
        assertThat(r.headers().firstValue("Content-Range")).hasValue("bytes 1000-1999/100000");

        HttpResponse<byte[]> open = client.get("/v2/blobs/app/blobs/" + digest, "Range", "bytes=99990-");
        assertThat(open.statusCode()).isEqualTo(206);
        assertThat(open.body()).isEqualTo(Arrays.copyOfRange(blob, 99_990, 100_000));

        HttpResponse<byte[]> suffix = client.get("/v2/blobs/app/blobs/" + digest, "Range", "bytes=-5");
        assertThat(suffix.statusCode()).isEqualTo(206);
        assertThat(suffix.body()).isEqualTo(Arrays.copyOfRange(blob, 99_995, 100_000));
        assertThat(suffix.headers().firstValue("Content-Range")).hasValue("bytes 99995-99999/100000");
    }

    @Test
    void largeBlobsAndRangesAcrossSendWindowsComeBackWhole() {
        // larger than the size served by reading, and spanning several of the windows large blobs are mapped in
        int size = 20 << 20;
        byte[] large = SeededBytes.of(size, 44);
        String d = client.pushBlob("blobs/large", large);
        HttpResponse<byte[]> whole = client.get("/v2/blobs/large/blobs/" + d);
        assertThat(whole.statusCode()).isEqualTo(200);
        assertThat(whole.headers().firstValue("Content-Length")).hasValue(Integer.toString(size));
        assertThat(Arrays.equals(whole.body(), large)).isTrue();

        int first = (8 << 20) - 1000, last = (16 << 20) + 5000;
        HttpResponse<byte[]> across = client.get("/v2/blobs/large/blobs/" + d, "Range", "bytes=" + first + "-" + last);
        assertThat(across.statusCode()).isEqualTo(206);
        assertThat(across.headers().firstValue("Content-Range")).hasValue("bytes " + first + "-" + last + "/" + size);
        assertThat(Arrays.equals(across.body(), Arrays.copyOfRange(large, first, last + 1))).isTrue();

        HttpResponse<byte[]> tail = client.get("/v2/blobs/large/blobs/" + d, "Range", "bytes=" + (size - 3_000_000) + "-");
        assertThat(tail.statusCode()).isEqualTo(206);
        assertThat(Arrays.equals(tail.body(), Arrays.copyOfRange(large, size - 3_000_000, size))).isTrue();

        HttpResponse<byte[]> head = client.head("/v2/blobs/large/blobs/" + d);
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.body()).isEmpty();
        assertThat(head.headers().firstValue("Content-Length")).hasValue(Integer.toString(size));
    }

    @Test
    void badRangesAre416() {
        for (String range : new String[]{"bytes=100000-", "bytes=5-2", "bytes=abc", "items=0-1", "bytes=0-1,5-6"}) {
            HttpResponse<byte[]> r = client.get("/v2/blobs/app/blobs/" + digest, "Range", range);
            assertThat(r.statusCode()).as(range).isEqualTo(416);
            assertThat(r.headers().firstValue("Content-Range")).as(range).hasValue("bytes */100000");
            assertThat(errorCode(r)).isEqualTo("RANGE_INVALID");
            // an error must not look cacheable
            assertThat(r.headers().firstValue("Cache-Control")).as(range).isEmpty();
            assertThat(r.headers().firstValue("Docker-Content-Digest")).as(range).isEmpty();
        }
    }

    @Test
    void aRepositoryServesOnlyBlobsPushedOrMountedIntoIt() {
        HttpResponse<byte[]> r = client.get("/v2/blobs/elsewhere/blobs/" + digest);
        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(errorCode(r)).isEqualTo("BLOB_UNKNOWN");
        assertThat(client.head("/v2/blobs/elsewhere/blobs/" + digest).statusCode()).isEqualTo(404);
    }

    @Test
    void unknownBlobIs404BlobUnknown() {
        String unknown = sha256("never pushed".getBytes());
        HttpResponse<byte[]> r = client.get("/v2/blobs/app/blobs/" + unknown);
        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(errorCode(r)).isEqualTo("BLOB_UNKNOWN");
        // a miss is the common answer of a cache import: it keeps the connection open
        assertThat(r.headers().firstValue("Connection")).isEmpty();
        assertThat(client.head("/v2/blobs/app/blobs/" + unknown).headers().firstValue("Connection")).isEmpty();
    }

    @Test
    void deleteUnlinksTheBlobFromTheRepository() {
        byte[] other = SeededBytes.of(5_000, 43);
        String d = client.pushBlob("blobs/deleting", other);
        client.pushBlob("blobs/keeping", other);
        assertThat(client.delete("/v2/blobs/deleting/blobs/" + d).statusCode()).isEqualTo(202);
        assertThat(client.head("/v2/blobs/deleting/blobs/" + d).statusCode()).isEqualTo(404);
        HttpResponse<byte[]> again = client.delete("/v2/blobs/deleting/blobs/" + d);
        assertThat(again.statusCode()).isEqualTo(404);
        assertThat(errorCode(again)).isEqualTo("BLOB_UNKNOWN");
        // another repository holding the same bytes is not affected
        assertThat(client.get("/v2/blobs/keeping/blobs/" + d).body()).isEqualTo(other);
    }

    @Test
    void unsupportedMethodIs405Unsupported() {
        HttpResponse<byte[]> r = client.post("/v2/blobs/app/blobs/" + digest, new byte[0]);
        assertThat(r.statusCode()).isEqualTo(405);
        assertThat(errorCode(r)).isEqualTo("UNSUPPORTED");
        assertThat(r.headers().firstValue("Allow")).hasValue("GET, HEAD, DELETE");
    }
}
