// The version of this build, from the package.json it was built from (beside dist/).
import fs from 'node:fs';
import path from 'node:path';

export const VERSION: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')).version;
