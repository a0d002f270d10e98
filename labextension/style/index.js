import './base.css';
import './tagging.css';
import './run.css';
import './history.css';
