import { render } from 'preact'

render(<p>cms-encryptor console</p>, document.getElementById('app')!)
