import java.io.*;
import java.security.*;
import java.security.cert.*;
import java.security.spec.*;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
import javax.net.ssl.*;

/**
 * Drives a PKCS#11 library through Java's SunPKCS11 provider, as Java agents
 * (AWS IoT Greengrass among them) do: the KeyStore lists the token's key and
 * certificate, the key signs on the token (SHA256withECDSA for an EC key;
 * SHA256withRSA and RSASSA-PSS for an RSA key) and the signature verifies
 * in software and through the token (a session public key), TLS 1.3 and
 * 1.2 client authentication with the default KeyManagerFactory against a
 * server on 127.0.0.1, then THREADS threads sign EACH times (every 50th
 * verified).
 *
 * Usage: java P11Check CONFIG ALIAS PORT SERVER-CERT.pem THREADS EACH
 * (PORT 0 skips TLS: the signing loop alone, for the bench report); the
 * token's PIN from $P11_PIN (default 0000: our token needs none, and any
 * PIN is accepted). With $P11_FIRST=1 the provider is inserted first, as
 * applications that want every algorithm from the token do: JSSE then
 * hashes the handshake with the token's digests and clones them
 * (C_GetOperationState / C_SetOperationState).
 */
public class P11Check {
    public static void main(String[] a) throws Exception {
        String cfg = a[0], alias = a[1];
        int port = Integer.parseInt(a[2]);
        Provider p = Security.getProvider("SunPKCS11").configure(cfg);
        if ("1".equals(System.getenv("P11_FIRST"))) {
            Security.insertProviderAt(p, 1);
            System.out.println("SunPKCS11 inserted first; SHA-256 from " + MessageDigest.getInstance("SHA-256").getProvider().getName());
        } else {
            Security.addProvider(p);
        }
        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        String pin = System.getenv("P11_PIN");
        ks.load(null, (pin == null ? "0000" : pin).toCharArray());
        System.out.println("aliases: " + Collections.list(ks.aliases()));
        PrivateKey key = (PrivateKey) ks.getKey(alias, null);
        X509Certificate cert = (X509Certificate) ks.getCertificate(alias);
        if (key == null || cert == null) throw new Exception("no key or certificate for " + alias);
        byte[] msg = "signed by the SIM through SunPKCS11".getBytes();
        boolean rsa = key.getAlgorithm().equals("RSA");
        String alg = rsa ? "SHA256withRSA" : "SHA256withECDSA", soft = rsa ? "SunRsaSign" : "SunEC";
        List<String> algs = new ArrayList<>(List.of(alg));
        if (rsa) algs.add("RSASSA-PSS");
        for (String sa : algs) {
            AlgorithmParameterSpec ps = sa.equals("RSASSA-PSS")
                ? new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1) : null;
            Signature s = Signature.getInstance(sa, p);
            if (ps != null) s.setParameter(ps);
            s.initSign(key);
            s.update(msg);
            byte[] sig = s.sign();
            Signature v = Signature.getInstance(sa, soft);
            if (ps != null) v.setParameter(ps);
            v.initVerify(cert.getPublicKey());
            v.update(msg);
            if (!v.verify(sig)) throw new Exception(sa + ": software verification failed");
            Signature tv = Signature.getInstance(sa, p);
            if (ps != null) tv.setParameter(ps);
            tv.initVerify(cert.getPublicKey());
            tv.update(msg);
            if (!tv.verify(sig)) throw new Exception(sa + ": verification through the token failed");
            System.out.println("sign " + sa + ": verified in software and through the token");
        }
        for (String proto : port == 0 ? new String[0] : new String[] {"TLSv1.3", "TLSv1.2"}) {
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, null);
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
            trust.load(null, null);
            try (InputStream in = new FileInputStream(a[3])) {
                trust.setCertificateEntry("server", CertificateFactory.getInstance("X.509").generateCertificate(in));
            }
            tmf.init(trust);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
            try (SSLSocket sock = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1", port)) {
                sock.setEnabledProtocols(new String[] {proto});
                sock.startHandshake();
                OutputStream out = sock.getOutputStream();
                out.write("GET / HTTP/1.0\r\n\r\n".getBytes());
                out.flush();
                String page = new String(sock.getInputStream().readAllBytes());
                if (!page.contains("Cipher")) throw new Exception(proto + ": no page");
                System.out.println(proto + " mutual TLS with the default KeyManagerFactory: " + sock.getSession().getProtocol());
            }
        }
        int threads = Integer.parseInt(a[4]), each = Integer.parseInt(a[5]);
        AtomicInteger bad = new AtomicInteger();
        ExecutorService ex = Executors.newFixedThreadPool(threads);
        long t0 = System.nanoTime();
        List<Future<?>> fs = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            fs.add(ex.submit(() -> {
                try {
                    Signature ts = Signature.getInstance(alg, p);
                    Signature tv2 = Signature.getInstance(alg, soft);
                    for (int i = 0; i < each; i++) {
                        ts.initSign(key);
                        ts.update(msg);
                        byte[] g = ts.sign();
                        if (i % 50 == 0) {
                            tv2.initVerify(cert.getPublicKey());
                            tv2.update(msg);
                            if (!tv2.verify(g)) bad.incrementAndGet();
                        }
                    }
                } catch (Exception e) {
                    bad.incrementAndGet();
                    e.printStackTrace();
                }
                return null;
            }));
        }
        for (Future<?> f : fs) f.get();
        ex.shutdown();
        double secs = (System.nanoTime() - t0) / 1e9;
        if (bad.get() != 0) throw new Exception(bad.get() + " bad signatures or errors");
        System.out.printf("%d threads x %d signatures: %.0f signatures/s%n", threads, each, threads * each / secs);
    }
}
