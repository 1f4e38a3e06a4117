package dev.cairn.auth;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.TempFiles;
import dev.cairn.testing.TestUsers;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static dev.cairn.testing.OciClient.errorCode;
import static org.assertj.core.api.Assertions.assertThat;

class LoginThrottleTest {
    @Test
    void repeatedFailuresFromOneAddressAre429UntilTheCooldownEnds() throws Exception {
        Path dir = Files.createTempDirectory("cairn-throttle-");
        Path htpasswd = TestUsers.htpasswd(dir.resolve("htpasswd"), Map.of("ci-1", "right"));
        try (RunningCairn cairn = RunningCairn.start(Map.of("auth.mode", "basic", "auth.htpasswd", htpasswd.toString(),
                "auth.rules", "[{users: [ci-1], repositories: '**', actions: [pull]}]",
                "auth.max-failures", "3", "auth.failure-window", "1m", "auth.cooldown", "2s"))) {
            OciClient client = new OciClient(cairn);
            String wrong = TestUsers.basic("ci-1", "wrong");
            for (int i = 0; i < 3; i++) assertThat(client.get("/v2/", "Authorization", wrong).statusCode()).isEqualTo(401);
            HttpResponse<byte[]> throttled = client.get("/v2/", "Authorization", wrong);
            assertThat(throttled.statusCode()).isEqualTo(429);
            assertThat(errorCode(throttled)).isEqualTo("TOOMANYREQUESTS");
            assertThat(throttled.headers().firstValue("Retry-After")).isPresent();
            // even the right password waits out the cooldown: a guesser learns nothing during it
            assertThat(client.get("/v2/", "Authorization", TestUsers.basic("ci-1", "right")).statusCode()).isEqualTo(429);
            Thread.sleep(2200);
            assertThat(client.get("/v2/", "Authorization", TestUsers.basic("ci-1", "right")).statusCode()).isEqualTo(200);
        } finally {
            TempFiles.deleteRecursively(dir);
        }
    }
}
