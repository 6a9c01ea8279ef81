#!/usr/bin/env python3
"""Writes a Trivy JSON v2 report of about SIZE_MB megabytes (default 50):
realistic vulnerability records (descriptions, references, CVSS), many
results, ids repeating across packages so merging has work to do."""
import json, random, sys

size_mb = float(sys.argv[2]) if len(sys.argv) > 2 else 50.0
out = sys.argv[1]
rnd = random.Random(7)
sev = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]
words = "buffer overflow in the parser allows remote attackers to execute arbitrary code via a crafted request header when compression is enabled".split()

def vuln(i, pkg, ver):
    cve = f"CVE-20{10 + i % 14}-{1000 + i % 9000}"
    return {
        "VulnerabilityID": cve,
        "VendorIDs": [f"DSA-{4000 + i % 900}-1"] if i % 3 == 0 else None,
        "PkgID": f"{pkg}@{ver}",
        "PkgName": pkg,
        "PkgIdentifier": {"PURL": f"pkg:deb/debian/{pkg}@{ver}?arch=amd64"},
        "InstalledVersion": ver,
        "FixedVersion": f"{ver}+deb10u{i % 4}" if i % 2 else "",
        "Status": "fixed" if i % 2 else "affected",
        "Layer": {"DiffID": "sha256:" + "%064x" % (i * 7919)},
        "SeveritySource": "debian",
        "PrimaryURL": f"https://avd.aquasec.com/nvd/{cve.lower()}",
        "DataSource": {"ID": "debian", "Name": "Debian Security Tracker", "URL": "https://salsa.debian.org/security-tracker-team/security-tracker"},
        "Title": " ".join(rnd.choice(words) for _ in range(8)),
        "Description": " ".join(rnd.choice(words) for _ in range(120)),
        "Severity": sev[i % 5],
        "CweIDs": [f"CWE-{100 + i % 700}"],
        "VendorSeverity": {"debian": 1 + i % 3, "nvd": 1 + i % 4},
        "CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "V3Score": 9.8}},
        "References": [f"https://security-tracker.debian.org/tracker/{cve}", f"https://nvd.nist.gov/vuln/detail/{cve}", f"https://www.openwall.com/lists/oss-security/{i}"],
        "PublishedDate": "2021-05-25T22:15:10.41Z",
        "LastModifiedDate": "2022-04-25T18:42:48.787Z",
    }

results, total, i = [], 0, 0
target = int(size_mb * 1024 * 1024)
while total < target:
    vulns = []
    for _ in range(500):
        pkg = f"lib{['ssl', 'xml2', 'curl', 'z', 'png', 'c6', 'krb5', 'expat'][i % 8]}-{i % 97}"
        v = vuln(i, pkg, f"1.{i % 31}.{i % 7}")
        vulns.append(v)
        total += len(json.dumps(v))
        i += 1
    results.append({"Target": f"image.tar (debian 10.{len(results)})", "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": vulns})
doc = {"SchemaVersion": 2, "ArtifactName": "bench/app:1", "ArtifactType": "container_image",
       "Metadata": {"ImageID": "sha256:" + "ab" * 32, "RepoDigests": ["bench/app@sha256:" + "cd" * 32]}, "Results": results}
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
print(f"{out}: {i} vulnerabilities")
