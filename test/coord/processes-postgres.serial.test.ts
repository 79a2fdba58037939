/** Cross-process guarantees of sluice/coord on postgres with a deadline or a lease a starved process could miss, run alone (see cross-process.ts). */
import { crossProcessSuite } from "./cross-process.js";

crossProcessSuite("postgres", "timing");
