package dev.cairn.testing;

import at.favre.lib.crypto.bcrypt.BCrypt;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;

/** htpasswd files as {@code htpasswd -B} writes them, and Basic authorization headers, for auth tests. */
public final class TestUsers {
    private TestUsers() {
    }

    /** Writes user → password as bcrypt ($2y$, cost 4: fast enough for tests, the format is what counts). */
    public static Path htpasswd(Path file, Map<String, String> users) throws IOException {
        StringBuilder lines = new StringBuilder();
        users.forEach((user, password) -> lines.append(user).append(':')
                .append(new String(BCrypt.with(BCrypt.Version.VERSION_2Y,
                        at.favre.lib.crypto.bcrypt.LongPasswordStrategies.truncate(BCrypt.Version.VERSION_2Y)).hash(4, password.toCharArray()))).append('\n'));
        Files.writeString(file, lines.toString());
        return file;
    }

    public static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes());
    }
}
