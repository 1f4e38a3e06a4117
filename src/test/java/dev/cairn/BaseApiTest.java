package dev.cairn;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.OneCairnPerClass;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;

import static org.assertj.core.api.Assertions.assertThat;

/** end-1 and the operational probes. */
class BaseApiTest extends OneCairnPerClass {

    @Test
    void apiBaseAnswersWithTheVersionHeader() {
        HttpResponse<byte[]> r = client.get("/v2/");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Docker-Distribution-API-Version")).hasValue("registry/2.0");
        assertThat(client.head("/v2/").statusCode()).isEqualTo(200);
    }

    @Test
    void healthAndReadinessProbesAnswer() {
        assertThat(client.get("/healthz").statusCode()).isEqualTo(200);
        assertThat(client.get("/readyz").statusCode()).isEqualTo(200);
    }

    @Test
    void unknownEndpointsGetAnOciError() {
        HttpResponse<byte[]> r = client.get("/v2/some/repo/nothing/here");
        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(OciClient.errorCode(r)).isEqualTo("NAME_UNKNOWN");
    }
}
