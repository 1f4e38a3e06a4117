package dev.cairn.metadata;

import org.sqlite.SQLiteJDBCLoader;
import org.sqlite.util.LibraryLoaderUtil;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Left to itself, sqlite-jdbc extracts its native library from the jar into the temporary directory at every
 * start, under a new name, and reads it back to compare it with the jar's copy: a noticeable part of Cairn's
 * start. Instead the library is extracted once per sqlite-jdbc version and loaded from there
 * ({@code org.sqlite.lib.path}): under {@code cairn.native.dir} when set (bin/cairn points it next to the jar,
 * so that even a new data directory finds it), else under the data directory. sqlite-jdbc still falls back
 * to its own extraction if that copy cannot be loaded (a directory mounted noexec, say).
 */
final class SqliteNativeLibrary {
    private SqliteNativeLibrary() {
    }

    /**
     * Points sqlite-jdbc at a copy under {@code cairn.native.dir} or else {@code dir}, extracting it first when
     * missing; a no-op if the library path is set already.
     */
    static void useCopyUnder(Path dir) {
        if (System.getProperty("org.sqlite.lib.path") != null) return; // the operator's choice, or an earlier store's
        String configured = System.getProperty("cairn.native.dir");
        if (configured != null && !configured.isBlank()) dir = Path.of(configured);
        try {
            String resourceDir = LibraryLoaderUtil.getNativeLibResourcePath(); // /org/sqlite/native/Linux/x86_64
            String name = LibraryLoaderUtil.getNativeLibName();
            Path target = dir.resolve("sqlite-jdbc-" + SQLiteJDBCLoader.getVersion())
                    .resolve(resourceDir.replaceFirst("^/org/sqlite/native/", ""));
            Path library = target.resolve(name);
            if (!Files.isRegularFile(library)) {
                try (InputStream in = SQLiteJDBCLoader.class.getResourceAsStream(resourceDir + "/" + name)) {
                    if (in == null) return; // not bundled for this platform: sqlite-jdbc looks elsewhere itself
                    Files.createDirectories(target);
                    Path partial = Files.createTempFile(target, name, ".partial");
                    try {
                        Files.copy(in, partial, StandardCopyOption.REPLACE_EXISTING);
                        Files.move(partial, library, StandardCopyOption.ATOMIC_MOVE); // whole or absent, for a concurrent start too
                    } finally {
                        Files.deleteIfExists(partial);
                    }
                }
            }
            System.setProperty("org.sqlite.lib.path", target.toString());
            System.setProperty("org.sqlite.lib.name", name);
        } catch (IOException | RuntimeException e) {
            // sqlite-jdbc's own extraction still works
        }
    }
}
