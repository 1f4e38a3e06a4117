package dev.cairn;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;

import static org.assertj.core.api.Assertions.assertThat;

/** end-1 and the operational probes. */
class BaseApiTest {
    static RunningCairn cairn;
    static OciClient client;

    @BeforeAll
    static void start() throws Exception {
        cairn = RunningCairn.start();
        client = new OciClient(cairn);
    }

    @AfterAll
    static void stop() throws Exception {
        cairn.close();
    }

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
