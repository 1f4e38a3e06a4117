package dev.cairn.http;

import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/** Jetty's costliest start-up work, done early and beside the main thread's (see {@link #startInBackground}). */
public final class JettyPreparation {
    private JettyPreparation() {
    }

    /**
     * Starts, on a thread of its own, the class initialisation of Jetty that costs most at start, so that it runs
     * while the main thread parses the command line and opens the stores: MimeTypes lists every locale the JDK
     * has (~80 ms here), the server and connector classes load a few hundred more. Call it before anything else
     * touches Jetty. It also tells Jetty how many object references fill a cache line, which Jetty otherwise
     * learns by starting the JMX platform server (another ~80 ms): 16 with compressed references (a heap under
     * 32 GiB, Cairn's case), 8 without. Padding sized wrongly would only cost speed, never correctness.
     */
    public static void startInBackground() {
        if (System.getProperty("org.eclipse.jetty.util.referencesPerCacheLine") == null) {
            boolean compressedReferences = Runtime.getRuntime().maxMemory() < (32L << 30);
            System.setProperty("org.eclipse.jetty.util.referencesPerCacheLine", compressedReferences ? "16" : "8");
        }
        // Logging starts here, on the main thread: Jetty's classes log, and a logging set-up begun on the second
        // thread would leave the main thread a stand-in factory that serve's LogSetup.apply cannot configure.
        org.slf4j.LoggerFactory.getILoggerFactory();
        Thread.ofPlatform().name("cairn-prepare-http").daemon().start(() -> {
            org.eclipse.jetty.http.MimeTypes.Type.values();
            new HttpConfiguration();
            new QueuedThreadPool().getName();
        });
    }

}
