/** Cross-process guarantees of sluice/coord on postgres (see cross-process.ts for what each test proves). */
import { crossProcessSuite } from "./cross-process.js";

crossProcessSuite("postgres");
