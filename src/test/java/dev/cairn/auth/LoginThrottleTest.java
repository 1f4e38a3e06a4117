package dev.cairn.auth;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.TempFiles;
import dev.cairn.testing.TestUsers;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static dev.cairn.testing.OciClient.errorCode;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The login throttle slows guessing without locking out the fleet: it counts per user name at an address
 * and per address, clears only the succeeding user's count, never refuses a valid token or another user's
 * valid password, and believes forwarded addresses only from the proxies it is told to trust.
 */
class LoginThrottleTest {
    private Path dir;
    private Path htpasswd;

    @BeforeEach
    void users() throws Exception {
        dir = Files.createTempDirectory("cairn-throttle-");
        htpasswd = TestUsers.htpasswd(dir.resolve("htpasswd"), Map.of("ci-1", "right", "ci-2", "also-right", "root", "admin-secret"));
    }

    @AfterEach
    void cleanUp() throws Exception {
        TempFiles.deleteRecursively(dir);
    }

    private RunningCairn start(String mode, Map<String, String> extra) throws Exception {
        Map<String, String> settings = new HashMap<>(Map.of("auth.mode", mode, "auth.htpasswd", htpasswd.toString(),
                "auth.rules", "[{users: [ci-1, ci-2, root], repositories: '**', actions: [pull]}]",
                "auth.max-failures", "3", "auth.failure-window", "1m", "auth.cooldown", "2s"));
        settings.putAll(extra);
        return RunningCairn.start(settings);
    }

    @Test
    void repeatedFailuresForOneUserAre429UntilTheCooldownEnds() throws Exception {
        try (RunningCairn cairn = start("basic", Map.of())) {
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
        }
    }

    @Test
    void anotherUsersSuccessDoesNotClearAGuessersCount() throws Exception {
        try (RunningCairn cairn = start("basic", Map.of())) {
            OciClient client = new OciClient(cairn);
            String guess = TestUsers.basic("root", "guess");
            for (int round = 0; round < 3; round++) {
                // two guesses for root, then a right login as ci-1 from the same address, which used to clear every count
                if (round < 2) {
                    assertThat(client.get("/v2/", "Authorization", guess).statusCode()).isEqualTo(401);
                }
                assertThat(client.get("/v2/", "Authorization", TestUsers.basic("ci-1", "right")).statusCode()).isEqualTo(200);
            }
            assertThat(client.get("/v2/", "Authorization", guess).statusCode()).as("the third guess in the window").isEqualTo(401);
            assertThat(client.get("/v2/", "Authorization", TestUsers.basic("root", "admin-secret")).statusCode())
                    .as("root, guessed three times, cools off").isEqualTo(429);
        }
    }

    @Test
    void aGuesserWithNoAccountLocksOutNoValidTokenAndNoOtherUsersPassword() throws Exception {
        try (RunningCairn cairn = start("token", Map.of())) {
            OciClient client = new OciClient(cairn);
            HttpResponse<byte[]> issued = client.get("/token?service=cairn&scope=repository:cache/app:pull",
                    "Authorization", TestUsers.basic("ci-1", "right"));
            assertThat(issued.statusCode()).isEqualTo(200);
            String token = "Bearer " + OciClient.json(issued).path("token").asText();

            // wrong passwords, for names that exist and names that do not, from the runners' own address
            int throttled = 0;
            for (int i = 0; i < 4 * LoginThrottle.ADDRESS_FACTOR; i++) {
                String user = new String[]{"nobody", "admin", "root", "ci-9"}[i % 4];
                int status = client.get("/token?service=cairn", "Authorization", TestUsers.basic(user, "guess")).statusCode();
                assertThat(status).isIn(401, 429);
                if (status == 429) throttled++;
            }
            assertThat(throttled).as("the guessing address is told to back off").isPositive();

            assertThat(client.get("/v2/cache/app/manifests/v1", "Authorization", token).statusCode())
                    .as("a valid token").isIn(200, 404);
            HttpResponse<byte[]> password = client.get("/token?service=cairn&scope=repository:cache/app:pull",
                    "Authorization", TestUsers.basic("ci-2", "also-right"));
            assertThat(password.statusCode()).as("another user's valid password").isEqualTo(200);
            JsonNode body = OciClient.json(password);
            assertThat(body.path("token").asText()).isNotEmpty();
        }
    }

    @Test
    void forwardedAddressesAreBelievedOnlyFromTrustedProxies() throws Exception {
        String guess = TestUsers.basic("ci-1", "guess");
        String right = TestUsers.basic("ci-1", "right");
        // Behind a trusted proxy (here the test itself, on loopback): the guesser and the runner are told apart.
        try (RunningCairn cairn = start("basic", Map.of("server.trusted-proxies", "127.0.0.0/8, ::1"))) {
            OciClient client = new OciClient(cairn);
            for (int i = 0; i < 3; i++) {
                // what a client writes itself (the left part) is not believed; the proxy's own entry (right) is
                assertThat(client.get("/v2/", "Authorization", guess, "X-Forwarded-For", "198.51.100.7, 192.0.2.66").statusCode())
                        .isEqualTo(401);
            }
            assertThat(client.get("/v2/", "Authorization", right, "X-Forwarded-For", "192.0.2.66").statusCode())
                    .as("the guessing client cools off").isEqualTo(429);
            assertThat(client.get("/v2/", "Authorization", right, "X-Forwarded-For", "198.51.100.7").statusCode())
                    .as("a runner behind the same proxy").isEqualTo(200);
            // what a client forges does not escape the cooldown: a Forwarded header is not read, an entry that is
            // no address ends the walk, and when every entry is a trusted proxy the nearest one is the client
            for (String[] forged : new String[][]{{"Forwarded", "for=198.51.100.9"}, {"X-Forwarded-For", "garbage-1, 192.0.2.66"},
                    {"X-Forwarded-For", "127.0.0.5, 192.0.2.66"}}) {
                assertThat(client.get("/v2/", "Authorization", right, "X-Forwarded-For", "192.0.2.66", forged[0], forged[1]).statusCode())
                        .as(forged[0] + ": " + forged[1]).isEqualTo(429);
            }
        }
        try (RunningCairn cairn = start("basic", Map.of("server.trusted-proxies", "127.0.0.0/8"))) {
            OciClient client = new OciClient(cairn);
            for (int i = 0; i < 3; i++) {
                // a proxy that appends nothing (or a client in a trusted range): every variant is one client
                assertThat(client.get("/v2/", "Authorization", guess, "X-Forwarded-For", "garbage-" + i).statusCode()).isEqualTo(401);
            }
            assertThat(client.get("/v2/", "Authorization", right, "X-Forwarded-For", "127.0.0." + 7 + ", 127.0.0.99").statusCode())
                    .isEqualTo(429);
        }
        // With no trusted proxies, the headers are anyone's words: every request comes from its TCP peer.
        try (RunningCairn cairn = start("basic", Map.of())) {
            OciClient client = new OciClient(cairn);
            for (int i = 0; i < 3; i++) {
                assertThat(client.get("/v2/", "Authorization", guess, "X-Forwarded-For", "192.0.2.66").statusCode()).isEqualTo(401);
            }
            assertThat(client.get("/v2/", "Authorization", right, "X-Forwarded-For", "198.51.100.7").statusCode())
                    .as("a forged header does not escape the cooldown").isEqualTo(429);
        }
    }

    @Test
    void madeUpNamesCannotGrowWhatTheThrottleRemembers() {
        LoginThrottle throttle = new LoginThrottle(3, java.time.Duration.ofMinutes(1), java.time.Duration.ofMinutes(1), java.time.Clock.systemUTC());
        String longName = "n".repeat(40_000);
        for (int i = 0; i < LoginThrottle.MAX_KEYS * 2; i++) throttle.failed(longName + i, "192.0.2.1");
        assertThat(throttle.trackedKeys()).isLessThanOrEqualTo(2 * LoginThrottle.MAX_KEYS);
        // the guesser's own count is still there when it is among the recent ones
        for (int i = 0; i < 3; i++) throttle.failed("ci-1", "192.0.2.1");
        assertThat(throttle.userBlocked("ci-1", "192.0.2.1")).isPresent();
    }
}
